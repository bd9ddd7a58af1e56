"""A call keeps the touch that led to it (issue #23, defect 1).

A visitor from a Google ad calls; three seconds later the same visitor (same token) comes
back through a Yahoo! ad, which moves the session's source and click ids. Reports, the
paths export, the API and the conversion files must still credit the Google click, and
the Yahoo! file must not hold the call.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import orjson

from attribution import conversions, reports
from attribution.exports import ExportFilter, stream_paths
from attribution.touch import freeze_touch
from backend.notify import targets
from backend.telephony import calls, cdr
from backend.telephony.calls import CallEvent
from backend.telephony.matching import match
from pool.store import Store, now_ms
from tests.support.browser import BROWSER_HEADERS
from tests.telephony.conftest import TARGET, TRACKING, call_params, post_twilio

GCLID = "Cj0KCQ-google-click"
YCLID = "YSS.1000000001.yahoo-click"
PAGE = "http://127.0.0.1/examples/"


async def _visit(
    client: httpx.AsyncClient, url: str, token: str = "", **extra: str
) -> dict[str, Any]:
    r = await client.post(
        "/v1/session",
        content=orjson.dumps({"site": "demo", "url": url, "token": token, **extra}),
        headers={**BROWSER_HEADERS, "origin": "http://127.0.0.1", "content-type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _google_call_then_yahoo_click(
    tclient: httpx.AsyncClient, telephony: Any, db: Store
) -> int:
    first = await _visit(
        tclient,
        PAGE + f"?gclid={GCLID}&utm_campaign=implant&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85",
        ga="GA1.1.1234567890.1700000000",
    )
    number = {s["target"]: s["number"] for s in first["swaps"]}[TARGET]
    sid = "CAtouch1"
    await post_twilio(tclient, "/twilio/voice", call_params(sid=sid, to=number))
    assert await telephony.recorder.drain(5)
    dial = call_params(sid=sid, to=number, DialCallStatus="completed", DialCallDuration="120")
    await post_twilio(tclient, "/twilio/dial", dial)
    status = call_params(sid=sid, to=number, CallStatus="completed", CallDuration="130")
    await post_twilio(tclient, "/twilio/status", status)
    assert await telephony.recorder.drain(5)
    # Three seconds later the same visitor comes back through a Yahoo! ad.
    await _visit(tclient, PAGE + f"?yclid={YCLID}&utm_campaign=yahoo-brand", first["token"])
    session = await db.fetchone("SELECT source, yclid, gclid FROM sessions")
    assert session == {"source": "yahoo", "yclid": YCLID, "gclid": ""}  # the retouch happened
    call = await db.fetchone(
        "SELECT id, qualified FROM calls WHERE provider_call_id = :c", {"c": sid}
    )
    assert call is not None and call["qualified"] == 1
    return int(call["id"])


async def test_a_later_ad_click_never_moves_the_call(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    call_id = await _google_call_then_yahoo_click(tclient, telephony, db)
    start, end = now_ms() - 3_600_000, now_ms() + 3_600_000
    scope = {"advertiser_id": None, "site_id": None, "start_ms": start, "end_ms": end}

    by_source = await reports.calls_report(db, dimension="source", **scope)
    assert {r["key"]: r["calls"] for r in by_source if r["calls"]} == {"google": 1}
    by_campaign = await reports.calls_report(db, dimension="campaign", **scope)
    assert {r["key"]: r["calls"] for r in by_campaign if r["calls"]} == {"implant": 1}
    by_landing = await reports.calls_report(db, dimension="landing_page", **scope)
    assert {r["key"]: r["calls"] for r in by_landing if r["calls"]} == {PAGE: 1}
    by_day = await reports.calls_by_day(db, timezone="UTC", dimension="source", **scope)
    assert {k for day in by_day.values() for k in day} == {"google"}

    chunks = [c async for c in stream_paths(db, ExportFilter(start, end), fmt="csv")]
    (row,) = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert (row["source"], row["campaign"], row["gclid"], row["yclid"]) == (
        "google",
        "implant",
        GCLID,
        "",
    )
    assert row["keyword"] == "歯医者" and row["landing_url"].endswith(
        f"?gclid={GCLID}&utm_campaign=implant&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85"
    )

    google = await conversions.export_conversions(
        db, platform="google", start_ms=start, end_ms=end, now_ms=now_ms()
    )
    assert google.count == 1 and GCLID in google.content.decode()
    yahoo = await conversions.export_conversions(
        db, platform="yahoo", start_ms=start, end_ms=end, now_ms=now_ms()
    )
    assert yahoo.count == 0 and YCLID not in yahoo.content.decode("cp932")
    ledger = await db.fetchall("SELECT platform, call_id, click_id FROM conversion_ledger")
    assert ledger == [{"platform": "google", "call_id": call_id, "click_id": GCLID}]

    # GA4 events and notifications describe the call by its own touch too.
    sent: list[bytes] = []

    async def send(url: str, body: bytes) -> int:
        sent.append(body)
        return 204

    site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
    await conversions.put_ga4(
        db,
        site_id=site_id,
        settings=conversions.GA4Settings(
            "G-TEST1234", "secret-abcdef-123", conversions.GA4_ENDPOINT
        ),
        now_ms=now_ms(),
    )
    pushed = await conversions.push_ga4(
        db, site_id=site_id, start_ms=start, end_ms=end, now_ms=now_ms(), send=send
    )
    assert pushed.sent == 1
    params = orjson.loads(sent[0])["events"][0]["params"]
    assert (params["call_source"], params["call_campaign"]) == ("google", "implant")
    payload = await targets.call_payload(db, call_id)
    assert payload is not None and (payload["source"], payload["keyword"]) == ("google", "歯医者")

    r = await tclient.get(
        f"/api/calls/{call_id}", headers={"Authorization": f"Bearer {demo['api_token']}"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["touch"]["source"] == "google" and body["touch"]["gclid"] == GCLID
    assert body["touch"]["yclid"] == "" and body["provider_call_id"] == "CAtouch1"


async def test_a_call_matched_late_is_frozen_when_the_match_is_stored(
    db: Store, demo: dict[str, Any]
) -> None:
    """A callback that arrives before the call's start event creates an unmatched row;
    the start event matches it later, and the touch is frozen then (the same unit)."""
    now = now_ms()
    site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
    async with db.write() as tx:
        session_id = await tx.fetchval(
            "INSERT INTO sessions (site_id, started_ms, last_seen_ms, source, gclid, channel)"
            " VALUES (:s, :t, :t, 'google', 'G-late', 'paid_search') RETURNING id",
            {"s": site_id, "t": now},
        )
        number_id = await tx.fetchval(
            "SELECT id FROM tracking_numbers WHERE number = :n", {"n": TRACKING}
        )
        pool_id = await tx.fetchval(
            "SELECT pool_id FROM tracking_numbers WHERE id = :n", {"n": number_id}
        )
        await tx.execute(
            "INSERT INTO leases (pool_id, number_id, session_id, started_ms, last_seen_ms,"
            " expires_ms) VALUES (:p, :n, :s, :t, :t, :e)",
            {"p": pool_id, "n": number_id, "s": session_id, "t": now, "e": now + 600_000},
        )
    base = {"provider": "pbx", "call_id": "late-1", "caller": "+819011112222"}
    await calls.record(
        db, CallEvent(kind="end", ts_ms=now + 60_000, status="answered", **base), match
    )
    row = await db.fetchone("SELECT match_method, touch_source FROM calls")
    assert row == {"match_method": "none", "touch_source": ""}
    start = CallEvent(kind="start", ts_ms=now, started_ms=now, tracking_number=TRACKING, **base)
    await calls.record(db, start, match)
    row = await db.fetchone("SELECT match_method, session_id, touch_source, touch_gclid FROM calls")
    assert row == {
        "match_method": "lease",
        "session_id": session_id,
        "touch_source": "google",
        "touch_gclid": "G-late",
    }


async def test_a_call_imported_after_the_next_ad_click_keeps_the_click_before_it(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    """A call detail record imported later is matched after the visitor's next click: the
    touch before the call (the session's first of two) is frozen, not the later one."""
    first = await _visit(tclient, PAGE + f"?gclid={GCLID}&utm_campaign=implant")
    number = {s["target"]: s["number"] for s in first["swaps"]}[TARGET]
    google_at = orjson.loads(await db.fetchval("SELECT first_touch FROM sessions"))["at_ms"]
    await asyncio.sleep(0.01)  # the next click lands at a later millisecond
    await _visit(tclient, PAGE + f"?yclid={YCLID}&utm_campaign=yahoo-brand", first["token"])
    yahoo_at = orjson.loads(await db.fetchval("SELECT last_touch FROM sessions"))["at_ms"]
    assert google_at < yahoo_at
    started = google_at + 1  # the call began between the two clicks
    rows = [{"From": "+819011112222", "To": number, "Start": str(started), "Talk": "95"}]
    mapping = cdr.parse_mapping("caller=From,number=To,start=Start,talk=Talk")
    result = await cdr.import_rows(db, rows, mapping)
    assert result.imported == 1 and not result.errors
    call = await db.fetchone(
        "SELECT match_method, touch_source, touch_gclid, touch_yclid, touch_campaign,"
        " touch_landing_page, touch_ms, qualified FROM calls"
    )
    assert call == {
        "match_method": "lease",
        "touch_source": "google",
        "touch_gclid": GCLID,
        "touch_yclid": "",
        "touch_campaign": "implant",
        "touch_landing_page": PAGE,
        "touch_ms": google_at,
        "qualified": 1,
    }
    now = now_ms()
    yahoo = await conversions.export_conversions(
        db, platform="yahoo", start_ms=now - 3_600_000, end_ms=now + 3_600_000, now_ms=now
    )
    assert yahoo.count == 0


async def test_a_touch_after_the_call_is_never_sent_as_its_conversion(
    db: Store, demo: dict[str, Any]
) -> None:
    """When the touch before the call is not known (more than two touches), the frozen one
    carries its time, and the files leave out a click made after the call."""
    now = now_ms()
    site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
    async with db.write() as tx:
        session_id = await tx.fetchval(
            "INSERT INTO sessions (site_id, started_ms, last_seen_ms, source, yclid, touches,"
            " last_touch) VALUES (:s, :t, :t, 'yahoo', :y, 3, :lt) RETURNING id",
            {
                "s": site_id,
                "t": now - 60_000,
                "y": YCLID,
                "lt": orjson.dumps({"source": "yahoo", "at_ms": now}).decode(),
            },
        )
        call_id = await tx.fetchval(
            "INSERT INTO calls (provider, provider_call_id, site_id, tracking_number,"
            " started_ms, session_id, qualified, created_ms, updated_ms)"
            " VALUES ('pbx', 'after-1', :s, :n, :t, :sess, 1, :t, :t) RETURNING id",
            {"s": site_id, "n": TRACKING, "t": now - 30_000, "sess": session_id},
        )
        await freeze_touch(tx, call_id=call_id, session_id=session_id)
    row = await db.fetchone("SELECT touch_yclid, touch_ms FROM calls")
    assert row == {"touch_yclid": YCLID, "touch_ms": now}
    yahoo = await conversions.export_conversions(
        db, platform="yahoo", start_ms=now - 3_600_000, end_ms=now + 3_600_000, now_ms=now
    )
    assert yahoo.count == 0
