"""Conversion actions sent straight to Google Ads', Meta's and Yahoo! JAPAN's APIs, through
stand-ins.

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
        yahoo_ads_search_api_base_url=f"{base}/search",
        yahoo_ads_display_api_base_url=f"{base}/display",
        yahoo_oauth_token_url=f"{base}/yahoo/token",
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
    endpoints = up.Endpoints.from_settings(settings)
    sent = await up.upload_all(
        db, now_ms=now_ms(), endpoints=endpoints, policy=OutboundPolicy.parse("127.0.0.1")
    )
    assert sent == 2 and len(platforms.google_batches) == 1
    names = {c["conversionAction"] for c in platforms.google_batches[0]["conversions"]}
    assert names == {"customers/1234567890/conversionActions/987654"}


YAHOO_CONFIG = {
    "search_account_id": "1000000001",
    "display_account_id": "2000000002",
    "base_account_id": "3000000003",
    "client_id": "yahoo-client",
    "client_secret": "yahoo-secret",
}


async def _yahoo_action(
    client: httpx.AsyncClient, w: World, config: dict[str, str], **upload: Any
) -> int:
    """A Yahoo! action 電話 (5,000 yen) whose calls go to the Yahoo! stand-ins."""
    action = await _action(client, w, platform="yahoo", name="電話", value="5000")
    upload.setdefault("secret", ap.YAHOO_REFRESH_TOKEN)
    stored = await _configure(client, w, action, kind="yahoo_ads", config=config, **upload)
    assert stored.status_code == 200, stored.text
    assert stored.json()["has_secret"] is True and ap.YAHOO_REFRESH_TOKEN not in stored.text
    return action


async def test_yahoo_search_and_display_files_each_call_once_and_followed_to_the_end(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, stand_in_port: int
) -> None:
    w = world
    display = await w.add_session(
        db, jst_ms(2026, 11, 20, 9, 0), source="yahoo", yclid="YJAD.2000000002.display-1"
    )
    on_display = await w.add_call(db, jst_ms(2026, 11, 20, 9, 4, 7), session_id=display)
    # A guess (two visits could have made it) never goes.
    guess = await w.add_session(db, jst_ms(2026, 11, 21, 9, 0), yclid="YSS.1000000001.guess")
    await w.add_call(db, jst_ms(2026, 11, 21, 9, 1), session_id=guess, match_method="ambiguous")
    action = await _yahoo_action(client, w, YAHOO_CONFIG)
    platforms = ap.Platforms()
    async with ap.serving(platforms, stand_in_port):
        first = await _run(client, w, action)
        assert first["sent"] == 2 and first["failed"] == []
        assert first["skipped"] == {"ambiguous_match": 1}
        by_network = {u["network"]: u for u in platforms.yahoo_uploads}
        search, shown = by_network["search"], by_network["display"]
        # Search: the world's YSS. click; the template's row, time in JST.
        assert search["rows"] == [
            ["YSS.1000000001.EAIaIQ-test", "電話", "20261112 000509", "5000", "JPY"]
        ]
        assert search["query"]["accountId"] == "1000000001"
        assert search["query"]["uploadType"] == "NEW"
        assert search["query"]["uploadFileName"] == search["filename"]
        assert search["base_account"] == "3000000003"
        # Display: the YJAD. click, in the display account, never in search's file.
        assert shown["rows"] == [["YJAD.2000000002.display-1", "電話", "20261120 090407", "5000"]]
        assert shown["query"]["accountId"] == "2000000002"
        jobs = {j["network"]: j for j in first["jobs"]}
        assert {j["status"] for j in jobs.values()} == {"PROCESSING"}
        assert jobs["display"]["calls"] == 1
        # Yahoo! fails the search file as a whole: the next run finds it out and sends
        # its call again; the display file is done (some rows refused: they stay sent,
        # Yahoo!'s error file says which).
        platforms.yahoo_status[int(jobs["search"]["upload_id"])] = "ERROR"
        platforms.yahoo_status[int(jobs["display"]["upload_id"])] = "DONE_WITH_ERROR"
        second = await _run(client, w, action)
        assert second["sent"] == 1
        statuses = [(j["network"], j["status"]) for j in second["jobs"]]
        assert statuses == [
            ("search", "ERROR"),
            ("search", "PROCESSING"),
            ("display", "DONE_WITH_ERROR"),
        ]
        assert [u["network"] for u in platforms.yahoo_uploads] == ["search", "display", "search"]
        assert platforms.yahoo_uploads[2]["rows"] == search["rows"]
        third = await _run(client, w, action)
    assert third["sent"] == 0
    assert [(j["network"], j["status"]) for j in third["jobs"]] == [("search", "DONE")]
    assert len(platforms.yahoo_uploads) == 3
    sent = await db.fetchall(
        "SELECT call_id FROM conversion_sent WHERE action_id = :a AND destination = 'api'",
        {"a": action},
    )
    assert {r["call_id"] for r in sent} == {w.calls["yahoo"], on_display}


async def test_yahoo_display_clicks_never_go_to_search_and_refusals_are_tried_again(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, stand_in_port: int
) -> None:
    w = world
    display = await w.add_session(db, jst_ms(2026, 11, 20, 9, 0), yclid="YJAD.2.display-2")
    await w.add_call(db, jst_ms(2026, 11, 20, 9, 4), session_id=display)
    search_only = {k: v for k, v in YAHOO_CONFIG.items() if k != "display_account_id"}
    action = await _yahoo_action(client, w, search_only, secret="revoked")
    platforms = ap.Platforms(yahoo_refuse_accounts={"1000000001"})
    async with ap.serving(platforms, stand_in_port):
        refused = await _run(client, w, action)
        assert refused["sent"] == 0
        assert [f["reason"] for f in refused["failed"]] == ["yahoo_oauth_refused"]
        assert not platforms.yahoo_uploads
        await _configure(
            client, w, action, kind="yahoo_ads", config=search_only, secret=ap.YAHOO_REFRESH_TOKEN
        )
        deactivated = await _run(client, w, action)
        assert [f["reason"] for f in deactivated["failed"]] == [
            "yahoo_http_200: I0001 Deactivated Id."
        ]
        platforms.yahoo_refuse_accounts.clear()
        fixed = await _run(client, w, action)
    assert fixed["sent"] == 1 and fixed["failed"] == []
    # Only the search click, in every attempt: the display click has no account to go to.
    clicks = {row[0] for u in platforms.yahoo_uploads for row in u["rows"]}
    assert clicks == {"YSS.1000000001.EAIaIQ-test"}
    assert {u["network"] for u in platforms.yahoo_uploads} == {"search"}


async def test_bad_yahoo_upload_configurations_name_the_field(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    action = await _action(client, w, platform="yahoo", name="電話")
    no_account = {"client_id": "c", "client_secret": "s"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"config": no_account}, "config.search_account_id"),
        ({"config": {**YAHOO_CONFIG, "search_account_id": "1/../x"}}, "config.search_account_id"),
        ({"config": {**YAHOO_CONFIG, "client_secret": ""}}, "config.client_secret"),
        (
            {"config": {**YAHOO_CONFIG, "display_conversion_name": "電話🙂"}},
            "config.display_conversion_name",
        ),
        ({"config": {**YAHOO_CONFIG, "api_version": "20"}}, "config.api_version"),
    ]
    for body, field in cases:
        refused = await _configure(client, w, action, kind="yahoo_ads", secret="x", **body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"].get("field") == field, (body, refused.json())
    google = await _action(client, w, platform="google", name="電話")
    wrong = await _configure(client, w, google, kind="yahoo_ads", config=YAHOO_CONFIG, secret="x")
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "kind"


async def test_a_yahoo_click_waits_a_day_before_it_is_uploaded(
    db: SQLiteDatabase, world: World, stand_in_port: int, settings: Settings
) -> None:
    from attribution import conversion_actions as ca
    from attribution import conversion_uploads as up
    from attribution.outbound import OutboundPolicy

    w = world
    now = now_ms()
    fresh = await w.add_session(db, now - 3_600_000, yclid="YSS.1000000001.fresh")
    call = await w.add_call(db, now - 3_000_000, session_id=fresh)
    spec = ca.ActionSpec(platform="yahoo", name="電話", value="5000")
    action = await ca.save_action(db, site_id=w.site_id, spec=spec, now_ms=now)
    search_only = {k: v for k, v in YAHOO_CONFIG.items() if k != "display_account_id"}
    upload = up.UploadConfig("yahoo_ads", search_only, ap.YAHOO_REFRESH_TOKEN)
    await up.save_config(db, action, upload, now_ms=now)
    endpoints = up.Endpoints.from_settings(settings)
    policy = OutboundPolicy.parse("127.0.0.1")
    platforms = ap.Platforms()
    async with ap.serving(platforms, stand_in_port):
        today = await up.upload_action(db, action, now_ms=now, endpoints=endpoints, policy=policy)
        tomorrow = await up.upload_action(
            db, action, now_ms=now + 86_400_000, endpoints=endpoints, policy=policy
        )
    # Today only the world's old click goes; the hour-old one waits, unrecorded.
    assert today.skipped == {"click_under_24h": 1} and len(today.sent) == 1
    assert tomorrow.sent == [call] and tomorrow.skipped == {}
    assert [u["rows"][0][0] for u in platforms.yahoo_uploads] == [
        "YSS.1000000001.EAIaIQ-test",
        "YSS.1000000001.fresh",
    ]
