"""The rebooking page in Chromium against a real server, texts through the Twilio
stand-in's Messages API on a loopback port: the advertiser's call is not answered → the
retry text → the window ends → the rebooking text → the lead opens its link on a phone,
picks a new window → a new window and, at T−15 min of it, a new reminder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from backend import create_app
from backend.api.jobs import job_runner
from backend.settings import Settings
from backend.storage import open_database, seed
from pool.store import now_ms
from tests.conftest import GUARD_OFF_ENV, make_settings
from tests.dashboard.test_layout import PHONE, _axe, _wide
from tests.reservations.conftest import (
    ACCOUNT,
    ADVERTISER_PHONE,
    AUTH_TOKEN,
    LEAD,
    MINUTE,
    NUMBER,
    Clock,
    reservation_settings,
)
from tests.reservations.test_flow import iso
from tests.support.server import Server
from tests.support.twilio import MessagesApi, TwilioStandIn

pytestmark = pytest.mark.e2e
_T = TypeVar("_T")


def in_thread(make: Callable[[], Any]) -> Any:
    """Run a coroutine on a loop of its own (Playwright's sync API holds this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def wait_for(check: Callable[[], _T], within_s: float) -> _T:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("not in time")


@pytest.fixture
def messages_api() -> Iterator[tuple[MessagesApi, str]]:
    api = MessagesApi(ACCOUNT, AUTH_TOKEN)
    with api.serve() as url:
        yield api, url


async def _seed(url: str) -> str:
    db = await open_database(url)
    try:
        member = seed.UserSpec("portal@example.com", "pw-12345678", token="portal")
        world = await seed.seed_world(db, [seed.TenantSpec("ABC不動産", users=[member])])
        async with db.write() as tx:
            await seed.add_reservation_numbers(
                tx,
                [NUMBER],
                advertiser_id=world.tenant("ABC不動産").advertiser_id,
                phones=[ADVERTISER_PHONE],
                now_ms=now_ms(),
            )
        return world.tokens["portal@example.com"]
    finally:
        await db.close()


def test_no_answer_retry_rebook_on_the_page_and_a_new_reminder(
    tmp_path: Path, browser: Any, messages_api: tuple[MessagesApi, str]
) -> None:
    api, api_url = messages_api
    url = f"sqlite:///{tmp_path / 'callpath.db'}"
    token = in_thread(lambda: _seed(url))
    server = Server(url)
    env = {
        "CALLPATH_PUBLIC_URL": server.url,
        "CALLPATH_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALLPATH_TWILIO_ACCOUNT_SID": ACCOUNT,
        "CALLPATH_TWILIO_API_URL": api_url,
        "CALLPATH_SMS_SENDER": "CALLPATH",
        "CALLPATH_JOBS_POLL_SECONDS": "1",
        "CALLPATH_RESERVATION_RETRY_MINUTES": "0",
    }
    server.env_extra = {**GUARD_OFF_ENV, **env}
    server.start()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        now = now_ms()
        # A window that has begun and ends in 15 seconds (real time: the server's clock).
        body = {"lead_id": "L-1", "phone": LEAD, "consent": True, "start": iso(now - MINUTE),
                "end": iso(now + 15_000)}  # fmt: skip
        made = httpx.post(server.url + "/api/reservations", json=body, headers=headers)
        assert made.status_code == 201, made.text
        rid = made.json()["id"]

        async def unanswered() -> Any:
            async with httpx.AsyncClient(base_url=server.url) as client:
                stand_in = TwilioStandIn(client, AUTH_TOKEN, server.url)
                return await stand_in.call(
                    to=NUMBER, caller=ADVERTISER_PHONE, sid="CA-e2e-1", answered=False
                )

        call = in_thread(unanswered)
        assert call.dialled == LEAD
        retry = wait_for(lambda: [m for m in api.to(LEAD) if "つながりませんでした" in m.body], 15)
        assert len(retry) == 1
        rebook = wait_for(lambda: [m for m in api.to(LEAD) if "/r/" in m.body], 40)[0]
        link = rebook.body[rebook.body.index(server.url + "/r/") :].split()[0]

        context = browser.new_context(viewport=PHONE, locale="ja-JP", bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(link)
            assert page.get_attribute("html", "lang") == "ja"
            assert _wide(page) <= PHONE["width"]
            assert _axe(page) == []
            first = page.locator("input[name=start]").first
            picked = int(first.get_attribute("value") or 0)
            first.check()
            page.click("#rebook-submit")
            page.wait_for_url("**done=rebooked")
            assert "変更しました" in page.content()
            assert _axe(page) == []
        finally:
            context.close()

        got = httpx.get(f"{server.url}/api/reservations/{rid}", headers=headers).json()
        assert got["status"] == "booked" and got["rebooks"] == 1 and got["start"] == iso(picked)
    finally:
        server.stop()

    # The new window's reminder: the job the rebooking planned, run at T−15 min of it.
    async def remind() -> None:
        settings: Settings = reservation_settings(make_settings(url), tmp_path)
        app = create_app(settings.replace(twilio_api_url=api_url, public_url=server.url))
        # (A window that starts within 15 minutes is reminded at once: the server did.)
        clock = Clock(max(picked - 15 * MINUTE, now_ms()))
        app.state.reservations.clock = clock
        async with app.router.lifespan_context(app):
            await job_runner(app, clock=clock).run_due()

    in_thread(remind)
    # One reminder: the new window's (the first window's was dropped: it had begun).
    [reminder] = [m for m in api.to(LEAD) if "より本日" in m.body]
    assert NUMBER in reminder.body and iso(picked)[11:16] in reminder.body
