"""The demo's simulated calls go through the real telephony path and match the visit; only a
signed-in user may place one, and only to a number that user may see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from backend import create_app
from backend.demo import DEMO_LOGIN, seed_demo
from backend.routes import demo_calls
from backend.settings import Settings
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded, seed

BROWSER = {
    "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/131.0.0.0 Safari/537.36",
    "accept-language": "ja",
    "origin": "http://127.0.0.1:8000",
}


@pytest.fixture
async def demo_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings.replace(demo_calls=True))
    async with application.router.lifespan_context(application):
        await seed_demo(application.state.db, application.state.settings)
        await application.state.telephony.table.load()
        yield application


async def test_demo_call_is_recorded_matched_and_completed(
    demo_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_calls, "HANG_UP_AFTER_S", (0.05, 0.1))
    transport = httpx.ASGITransport(app=demo_app, client=("198.51.100.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        visit = await c.post(
            "/v1/session",
            json={"site": "demo", "url": "http://127.0.0.1:8000/examples/?gclid=demo123"},
            headers=BROWSER,
        )
        assert visit.status_code == 200, visit.text
        tracking = visit.json()["swaps"][0]["number"]
        await login(c, *DEMO_LOGIN)
        r = await c.post("/demo/call", json={"number": tracking})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "forward"
    assert r.json()["forward_to"] == visit.json()["swaps"][0]["target"]
    db: Any = demo_app.state.db
    call: dict[str, Any] | None = None
    for _ in range(100):
        await asyncio.sleep(0.05)
        await demo_app.state.telephony.recorder.drain(1.0)
        call = await db.fetchone("SELECT * FROM calls WHERE provider = 'demo'")
        if call and call["status"] in {"answered", "no-answer"}:
            break
    assert call is not None
    assert call["tracking_number"] == tracking
    assert call["match_method"] == "lease" and call["session_id"] is not None
    assert call["status"] in {"answered", "no-answer"}


async def test_demo_calls_are_off_unless_turned_on(client: httpx.AsyncClient, demo: Any) -> None:
    r = await client.post("/demo/call", json={"number": "+815017000001"})
    assert r.status_code in {404, 405}


async def _calls(app: Starlette) -> int:
    await app.state.telephony.recorder.drain(1.0)
    count: int = await app.state.db.fetchval("SELECT COUNT(*) FROM calls")
    return count


async def test_demo_calls_need_a_signed_in_user(demo_app: Starlette) -> None:
    transport = httpx.ASGITransport(app=demo_app)
    before = await _calls(demo_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        tracking = await demo_app.state.db.fetchval("SELECT number FROM tracking_numbers LIMIT 1")
        r = await c.post("/demo/call", json={"number": tracking})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        c.cookies.set("cp_session", "forged")
        assert (await c.post("/demo/call", json={"number": tracking})).status_code == 401
    assert await _calls(demo_app) == before


async def test_a_member_rings_only_numbers_the_member_may_see(
    demo_app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_calls, "HANG_UP_AFTER_S", (0.0, 0.0))
    s: Seeded = await seed(demo_app.state.db)
    await demo_app.state.telephony.table.load()
    transport = httpx.ASGITransport(app=demo_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        await login(c, s.member_a, PASSWORD)
        before = await _calls(demo_app)
        for number in ("+815099990001", "050-9999-0001", "+81355550000", "not a number"):
            refused = await c.post("/demo/call", json={"number": number})
            assert refused.status_code == 404, number
            assert refused.json()["error"]["message"] == "No such tracking number."
        assert await _calls(demo_app) == before
        own = await c.post("/demo/call", json={"number": s.tracking_a})
        assert own.status_code == 200, own.text
        for _ in range(100):
            if await _calls(demo_app) > before:
                break
            await asyncio.sleep(0.02)
    rows = await demo_app.state.db.fetchall(
        "SELECT advertiser_id FROM calls WHERE provider = 'demo'"
    )
    assert [r["advertiser_id"] for r in rows] == [s.adv_a]
