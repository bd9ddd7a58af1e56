"""GA4 events carry the visitor's GA session, the site's consent, and bounded values."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from attribution import conversions as conv
from attribution.ga_session import ga_session_for, ga_session_ids
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World
from tests.api.test_ga4 import LOCAL, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_session_ids_are_validated_and_bounded() -> None:
    assert ga_session_ids("TEST1234.1700000123,ABCD99.17") == "TEST1234.1700000123,ABCD99.17"
    assert ga_session_ids("<script>,TEST1234.x,T.1,TEST1234.5") == "TEST1234.5"
    assert ga_session_ids("A1B2.1,A1B2.2,C3D4.3,E5F6.4,G7H8.5") == "A1B2.1,C3D4.3,E5F6.4"
    assert ga_session_ids("TEST1234." + "9" * 21) == ""
    # As the snippet sends them: the heads of gtag's cookies, older and newer form.
    raw = "_ga_TEST1234=GS1.1.1700000123,_ga_ABCD99=GS2.1.s1700000999,_ga_X=GS1.1.5"
    assert ga_session_ids(raw) == "TEST1234.1700000123,ABCD99.1700000999"
    assert ga_session_for("ABCD99.17,TEST1234.1700000123", "G-TEST1234") == "1700000123"
    assert ga_session_for("ABCD99.17", "G-TEST1234") == ""


async def _push(db: SQLiteDatabase, world: World, receiver: Receiver, **ga4: str) -> list[dict]:
    now = now_ms()
    await receiver.send_site_here(db, world.site_id, now, **ga4)
    r = await conv.push_ga4(
        db, site_id=world.site_id, start_ms=now - 3_600_000, end_ms=now, now_ms=now, policy=LOCAL
    )
    assert r.failed == 0
    return [x["body"] for x in receiver.received]


async def test_the_event_joins_gtags_session_with_the_sites_consent(
    db: SQLiteDatabase, world: World, receiver: Receiver
) -> None:
    now = now_ms()
    session = await world.add_session(
        db,
        now - 600_000,
        campaign="c" * 300,
        ga_client_id="GA1.1.555.1700000000",
        ga_sessions="ABCD99.17,TEST1234.1700000123",
    )
    await world.add_call(db, now - 60_000, session_id=session, touch_campaign="c" * 300)
    [body] = await _push(
        db,
        world,
        receiver,
        consent_ad_user_data="GRANTED",
        consent_ad_personalization="DENIED",
    )
    params = body["events"][0]["params"]
    assert params["session_id"] == "1700000123"  # the site's own property's session
    assert body["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}
    assert "non_personalized_ads" not in body
    assert params["call_campaign"] == "c" * 100  # GA4 keeps 100 characters of a value
    assert all(len(v) <= 100 for v in params.values() if isinstance(v, str))


async def test_without_gtags_session_the_callpath_session_gives_a_stable_id(
    db: SQLiteDatabase, world: World, receiver: Receiver
) -> None:
    now = now_ms()
    started = now - 600_000
    session = await world.add_session(db, started, ga_client_id="GA1.1.77.88")
    for ago in (120_000, 60_000):
        await world.add_call(db, now - ago, session_id=session)
    bodies = await _push(db, world, receiver)
    ids = {b["events"][0]["params"]["session_id"] for b in bodies}
    assert len(bodies) == 2 and ids == {str(started // 1000)}
    # No consent configured: none is claimed for the visitor.
    assert all("consent" not in b and "non_personalized_ads" not in b for b in bodies)


async def test_consent_settings_over_the_api(client: httpx.AsyncClient, world: World) -> None:
    url = f"/api/sites/{world.site_id}/ga4"
    good = {"measurement_id": "G-TEST1234", "api_secret": "secret-abcdef-123"}
    r = await client.put(url, json={**good, "consent_ad_user_data": "DENIED"}, headers=world.auth())
    assert r.status_code == 200, r.text
    got = (await client.get(url, headers=world.auth())).json()
    assert got["consent_ad_user_data"] == "DENIED" and got["consent_ad_personalization"] == ""
    for bad in ({"consent_ad_user_data": "yes"}, {"consent_ad_personalization": True}):
        r = await client.put(url, json={**good, **bad}, headers=world.auth())
        assert r.status_code == 422, bad
