"""The GA4 endpoint as an attacker holding an API token would set it: aimed at the
server's own network when saved and when sent, and through a redirect.

``CALLPATH_OUTBOUND_ALLOW_HOSTS`` is off here (the default) unless a test says so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from attribution import conversions as conv
from attribution.outbound import OutboundPolicy
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World
from tests.api.test_ga4 import Receiver

GOOD = {"measurement_id": "G-TEST1234", "api_secret": "secret-abcdef-123"}


@pytest.fixture
def receiver() -> Any:
    r = Receiver()
    yield r
    r.close()


async def _a_call_to_send(db: SQLiteDatabase, world: World) -> int:
    now = now_ms()
    session = await world.add_session(db, now - 60_000, ga_client_id="GA1.1.77.88")
    return await world.add_call(db, now - 30_000, session_id=session)


async def _stored_endpoint(db: SQLiteDatabase, site_id: int, endpoint: str) -> None:
    """GA4 settings stored without today's checks, as an older version accepted them."""
    await db.execute(
        "INSERT INTO ga4_settings (site_id, measurement_id, api_secret, endpoint_url,"
        " event_name, enabled, updated_ms) VALUES (:s, 'G-TEST1234', 'secret-abcdef-123',"
        " :u, 'phone_call', 1, 0)",
        {"s": site_id, "u": endpoint},
    )


@pytest.mark.stores("sqlite")  # refused before anything is stored
async def test_an_internal_ga4_endpoint_is_refused_when_saved(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"/api/sites/{world.site_id}/ga4"
    for endpoint in (
        "http://127.0.0.1:9999/mp/collect",
        "https://127.0.0.1/mp/collect",
        "http://localhost:8000/anything",
        "http://[::1]:8080/mp/collect",
        "http://2130706433/mp/collect",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/mp/collect",
        "https://evil.example/mp/collect",
    ):
        r = await client.put(url, json={**GOOD, "endpoint_url": endpoint}, headers=world.auth())
        assert r.status_code == 422, (endpoint, r.text)
        assert r.json()["error"]["code"] == "invalid"
    assert (await client.get(url, headers=world.auth())).status_code == 404
    for endpoint in (
        "https://www.google-analytics.com/mp/collect",
        "https://region1.google-analytics.com/mp/collect",
    ):
        r = await client.put(url, json={**GOOD, "endpoint_url": endpoint}, headers=world.auth())
        assert r.status_code == 200, r.text


async def test_an_internal_ga4_endpoint_saved_before_is_refused_when_sent(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, receiver: Receiver
) -> None:
    await _a_call_to_send(db, world)
    await _stored_endpoint(db, world.site_id, receiver.url)
    r = await client.post(f"/api/sites/{world.site_id}/ga4/push", headers=world.auth())
    assert r.status_code == 200
    assert (r.json()["sent"], r.json()["failed"]) == (0, 1)
    assert receiver.received == []
    # Released, not marked sent: allowed later, the call still goes.
    assert await db.fetchval("SELECT COUNT(*) FROM conversion_ledger") == 0


@pytest.mark.stores("sqlite")
async def test_google_rebound_to_this_machine_is_refused_when_sent(
    db: SQLiteDatabase, world: World
) -> None:
    looked_up: list[str] = []

    async def rebound(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    await _a_call_to_send(db, world)
    await conv.put_ga4(
        db, site_id=world.site_id, settings=conv.GA4Settings(**GOOD), now_ms=now_ms()
    )
    now = now_ms()
    result = await conv.push_ga4(
        db,
        site_id=world.site_id,
        start_ms=0,
        end_ms=now,
        now_ms=now,
        policy=OutboundPolicy(resolve=rebound),
    )
    assert (result.sent, result.failed) == (0, 1)
    assert looked_up == ["www.google-analytics.com"]


async def test_a_ga4_redirect_is_not_followed(db: SQLiteDatabase, world: World) -> None:
    inside = Receiver()
    relay = Receiver()
    relay.redirect_to = inside.url + "?stolen=1"
    try:
        # The relay is the operator's own (allowed); where it redirects to is not followed.
        policy = OutboundPolicy.parse("127.0.0.1")
        await _a_call_to_send(db, world)
        await conv.put_ga4(
            db,
            site_id=world.site_id,
            settings=conv.GA4Settings(**GOOD, endpoint_url=relay.url),
            now_ms=now_ms(),
            policy=policy,
        )
        now = now_ms()
        result = await conv.push_ga4(
            db, site_id=world.site_id, start_ms=0, end_ms=now, now_ms=now, policy=policy
        )
    finally:
        inside.close()
        relay.close()
    assert len(relay.received) == 1 and inside.received == []
    assert (result.sent, result.failed) == (0, 1)
