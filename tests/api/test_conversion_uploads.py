"""Conversion actions sent straight to Google Ads' and Meta's APIs, through stand-ins.

The stand-ins (tests/support/ad_platforms.py) check what each API requires; these tests
check what callpath sends: each call once, refusals tried again, the caller's number
hashed only with consent.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from backend.settings import Settings
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World, jst_ms
from tests.conftest import GUARD_OFF, make_settings
from tests.support import ad_platforms as ap
from tests.support.server import free_port

GOOGLE_CONFIG = {
    "customer_id": "123-456-7890",
    "conversion_action_id": "987654",
    "developer_token": ap.DEVELOPER_TOKEN,
    "client_id": "client.apps.googleusercontent.com",
    "client_secret": "client-secret",
}


@pytest.fixture
def stand_in_port() -> int:
    return free_port()


@pytest.fixture
async def platforms(stand_in_port: int) -> AsyncIterator[ap.Platforms]:
    """The Google Ads and Meta stand-ins, serving where the settings send uploads."""
    stand_ins = ap.Platforms()
    async with ap.serving(stand_ins, stand_in_port):
        yield stand_ins


@pytest.fixture
def settings(database_url: str, stand_in_port: int) -> Settings:
    base = f"http://127.0.0.1:{stand_in_port}"
    return make_settings(
        database_url,
        **GUARD_OFF,
        google_ads_api_base_url=base,
        google_oauth_token_url=f"{base}/token",
        meta_graph_base_url=base,
        outbound_allow_hosts="127.0.0.1",  # the stand-ins are on loopback
    )


async def _action(client: httpx.AsyncClient, w: World, **fields: Any) -> int:
    made = await client.post(
        f"/api/sites/{w.site_id}/conversion-actions", json=fields, headers=w.auth()
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def _configure(client: httpx.AsyncClient, w: World, action: int, **body: Any) -> Any:
    return await client.put(f"/api/conversion-actions/{action}/upload", json=body, headers=w.auth())


async def _configure_google(client: httpx.AsyncClient, w: World, action: int, **body: Any) -> Any:
    """The action's upload to the Google Ads stand-in (its refresh token unless given)."""
    body.setdefault("secret", ap.REFRESH_TOKEN)
    return await _configure(client, w, action, kind="google_ads", config=GOOGLE_CONFIG, **body)


async def _google_call_action(client: httpx.AsyncClient, w: World, **upload: Any) -> int:
    """A Google action 電話 whose calls go to the Google Ads stand-in as ``upload`` says."""
    action = await _action(client, w, platform="google", name="電話")
    stored = await _configure_google(client, w, action, **upload)
    assert stored.status_code == 200, stored.text
    return action


async def _run(client: httpx.AsyncClient, w: World, action: int) -> dict[str, Any]:
    done = await client.post(f"/api/conversion-actions/{action}/upload/run", headers=w.auth())
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def test_google_ads_upload_once_with_hashed_phone_and_row_refusals_retried(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, platforms: ap.Platforms
) -> None:
    w = world
    bad = await w.add_session(db, jst_ms(2026, 11, 20, 9, 0), source="google", gclid="bad-1")
    await w.add_call(db, jst_ms(2026, 11, 20, 9, 1), session_id=bad, caller="+818033334444")
    action = await _action(client, w, platform="google", name="有効電話", value="3000")
    stored = await _configure_google(client, w, action, consent_user_data="GRANTED")
    assert stored.status_code == 200, stored.text
    assert stored.json()["has_secret"] is True and ap.REFRESH_TOKEN not in stored.text
    assert stored.json()["config"]["customer_id"] == "1234567890"
    first = await _run(client, w, action)
    second = await _run(client, w, action)
    assert first["sent"] == 2  # the gclid call and the wbraid call
    assert [f["reason"] for f in first["failed"]] == ["The click id could not be decoded."]
    # The refused row is tried again; the two sent are never sent again.
    assert second["sent"] == 0 and len(second["failed"]) == 1
    sent = platforms.google_batches[0]["conversions"]
    by_click = {c.get("gclid") or c.get("wbraid"): c for c in sent}
    gclid = by_click["Cj0KCQ-test-gclid"]
    assert gclid["conversionDateTime"] == "2026-11-10 10:02:30+09:00"
    assert gclid["conversionValue"] == 3000 and gclid["currencyCode"] == "JPY"
    assert gclid["conversionAction"] == "customers/1234567890/conversionActions/987654"
    assert gclid["consent"] == {"adUserData": "GRANTED"}
    e164 = hashlib.sha256(b"+819012345678").hexdigest()
    assert gclid["userIdentifiers"] == [{"hashedPhoneNumber": e164}]
    assert "wbraid-ios-1" in by_click
    assert [c["gclid"] for c in platforms.google_batches[1]["conversions"]] == ["bad-1"]


async def test_without_consent_the_number_never_leaves(
    client: httpx.AsyncClient, world: World, platforms: ap.Platforms
) -> None:
    w = world
    action = await _google_call_action(client, w, consent_user_data="DENIED")
    assert (await _run(client, w, action))["sent"] == 2
    for c in platforms.google_batches[0]["conversions"]:
        assert "userIdentifiers" not in c and c["consent"] == {"adUserData": "DENIED"}


async def test_a_refused_refresh_token_sends_nothing_and_keeps_every_call_for_later(
    client: httpx.AsyncClient, world: World, platforms: ap.Platforms
) -> None:
    w = world
    action = await _google_call_action(client, w, secret="revoked-token")
    refused = await _run(client, w, action)
    assert refused["sent"] == 0
    assert {f["reason"] for f in refused["failed"]} == {"google_oauth_refused"}
    # The token is fixed (the secret alone): everything goes on the next run.
    await _configure_google(client, w, action)
    assert (await _run(client, w, action))["sent"] == 2
    assert platforms.google_batches and not platforms.meta_batches


async def test_meta_conversions_api_with_the_click_and_the_hashed_digits(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, platforms: ap.Platforms
) -> None:
    w = world
    now = now_ms()
    fb = await w.add_session(db, now - 3_600_000, source="facebook", fbclid="IwAR-click-1")
    call = await w.add_call(db, now - 3_000_000, session_id=fb, caller="+819055556666")
    action = await _action(client, w, platform="meta", name="Lead", value="1500")
    stored = await _configure(
        client,
        w,
        action,
        kind="meta",
        config={"pixel_id": "1234567"},
        secret=ap.META_TOKEN,
        consent_user_data="GRANTED",
    )
    assert stored.status_code == 200, stored.text
    assert (await _run(client, w, action))["sent"] == 1
    assert (await _run(client, w, action))["sent"] == 0
    (event,) = platforms.meta_batches[0]["data"]
    assert event["event_name"] == "Lead" and event["action_source"] == "phone_call"
    assert event["event_id"] == f"callpath-{action}-{call}"
    assert event["user_data"]["fbc"] == f"fb.1.{now - 3_600_000}.IwAR-click-1"
    assert event["user_data"]["ph"] == [hashlib.sha256(b"819055556666").hexdigest()]
    assert event["custom_data"] == {"value": 1500, "currency": "JPY"}
    # Meta takes no file: the action's file operations say so.
    for path in ("export", "adjustments", "feeds"):
        refused = await client.post(f"/api/conversion-actions/{action}/{path}", headers=w.auth())
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "no_file"


async def test_bad_upload_configurations_name_the_field(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    action = await _action(client, w, platform="google", name="電話")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kind": "meta", "config": {"pixel_id": "1"}, "secret": "x"}, "kind"),
        ({"kind": "tiktok", "config": {}, "secret": "x"}, "kind"),
        (
            {
                "kind": "google_ads",
                "config": {**GOOGLE_CONFIG, "customer_id": "12/../x"},
                "secret": "x",
            },
            "config.customer_id",
        ),
        (
            {"kind": "google_ads", "config": {"customer_id": "1"}, "secret": "x"},
            "config.conversion_action_id",
        ),
        (
            {"kind": "google_ads", "config": {**GOOGLE_CONFIG, "colour": "red"}, "secret": "x"},
            "config.colour",
        ),
        ({"kind": "google_ads", "config": GOOGLE_CONFIG}, "secret"),
        (
            {
                "kind": "google_ads",
                "config": GOOGLE_CONFIG,
                "secret": "x",
                "consent_user_data": "YES",
            },
            "consent_user_data",
        ),
    ]
    for body, field in cases:
        refused = await _configure(client, w, action, **body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"].get("field") == field, (body, refused.json())
    assert (
        await client.get(f"/api/conversion-actions/{action}/upload", headers=w.auth())
    ).status_code == 404
    theirs = await client.put(
        f"/api/conversion-actions/{action}/upload",
        json={"kind": "google_ads", "config": GOOGLE_CONFIG, "secret": "x"},
        headers=w.auth(w.member_token),
    )
    assert theirs.status_code == 404


async def test_the_periodic_job_runs_every_enabled_upload(
    client: httpx.AsyncClient,
    db: SQLiteDatabase,
    world: World,
    platforms: ap.Platforms,
    settings: Settings,
) -> None:
    from attribution import conversion_uploads as up
    from attribution.outbound import OutboundPolicy

    w = world
    on = await _action(client, w, platform="google", name="電話")
    off = await _action(client, w, platform="google", name="有効電話")
    for action, enabled in ((on, True), (off, False)):
        await _configure_google(client, w, action, enabled=enabled)
    endpoints = up.Endpoints(
        settings.google_ads_api_base_url,
        settings.google_oauth_token_url,
        settings.meta_graph_base_url,
    )
    sent = await up.upload_all(
        db, now_ms=now_ms(), endpoints=endpoints, policy=OutboundPolicy.parse("127.0.0.1")
    )
    assert sent == 2 and len(platforms.google_batches) == 1
    names = {c["conversionAction"] for c in platforms.google_batches[0]["conversions"]}
    assert names == {"customers/1234567890/conversionActions/987654"}
