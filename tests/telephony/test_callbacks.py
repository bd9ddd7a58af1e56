"""Status, dial and recording callbacks: idempotent, out of order, never backwards."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx

from backend.telephony import calls
from backend.telephony.calls import CallEvent
from tests.telephony.conftest import TARGET, TRACKING, call_params, post_twilio


def status_params(sid: str, status: str, duration: str = "") -> dict[str, str]:
    params = call_params(sid=sid, CallStatus=status)
    if duration:
        params["CallDuration"] = duration
    return params


def dial_params(sid: str, outcome: str, talk: str) -> dict[str, str]:
    return call_params(
        sid=sid, DialCallStatus=outcome, DialCallDuration=talk, DialCallSid="CAchild" + sid
    )


async def _call(db: Any) -> dict[str, Any]:
    rows = await db.fetchall("SELECT * FROM calls")
    assert len(rows) == 1, rows
    return dict(rows[0])


async def test_the_same_webhooks_twice_record_one_call_with_the_final_status(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    for _ in range(2):
        r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CA100"))
        assert r.status_code == 200
    for _ in range(2):
        r = await post_twilio(tclient, "/twilio/dial", dial_params("CA100", "completed", "42"))
        assert ET.fromstring(r.content).find("Hangup") is not None
    for _ in range(2):
        r = await post_twilio(tclient, "/twilio/status", status_params("CA100", "completed", "50"))
        assert r.status_code == 200
    assert await telephony.recorder.drain(10)
    call = await _call(db)
    assert call["provider"] == "twilio"
    assert call["provider_call_id"] == "CA100"
    assert call["status"] == "answered"
    assert call["talk_s"] == 42
    assert call["duration_s"] == 50
    assert call["tracking_number"] == TRACKING
    assert call["forwarded_to"] == TARGET
    assert call["caller"] == "+819012345678"
    assert call["ended_ms"] is not None and call["answered_ms"] is not None
    assert call["number_id"] is not None and call["advertiser_id"] is not None
    # A replayed signed request adds no event: one row per (call, kind, status).
    events = await db.fetchall("SELECT kind, status FROM call_events ORDER BY id")
    assert [(r["kind"], r["status"]) for r in events] == [
        ("voice", "ringing"),
        ("dial", "completed"),
        ("status", "completed"),
    ]


async def test_a_status_before_the_voice_record_and_a_late_ringing(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await post_twilio(tclient, "/twilio/status", status_params("CA200", "completed", "30"))
    assert await telephony.recorder.drain(10)
    first = await _call(db)
    assert first["status"] == "completed"
    assert first["number_id"] is not None  # matched from the callback's To
    await post_twilio(tclient, "/twilio/voice", call_params(sid="CA200"))
    await post_twilio(tclient, "/twilio/status", status_params("CA200", "ringing"))
    await post_twilio(tclient, "/twilio/dial", dial_params("CA200", "no-answer", "0"))
    await post_twilio(tclient, "/twilio/status", status_params("CA200", "in-progress"))
    assert await telephony.recorder.drain(10)
    call = await _call(db)
    assert call["status"] == "no-answer"
    assert call["duration_s"] == 30
    assert call["forwarded_to"] == TARGET
    assert call["started_ms"] <= first["started_ms"]


async def test_recording_callback_stores_the_recording(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    # The recording may well arrive before anything else.
    params = call_params(
        sid="CA300",
        RecordingSid="RE1",
        RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
        RecordingStatus="completed",
        RecordingDuration="12",
    )
    r = await post_twilio(tclient, "/twilio/recording", params)
    assert r.status_code == 200
    await post_twilio(tclient, "/twilio/voice", call_params(sid="CA300"))
    assert await telephony.recorder.drain(10)
    call = await _call(db)
    assert call["recording_url"].endswith("/Recordings/RE1")
    assert call["recording_sid"] == "RE1"


async def test_busy_and_failed_outcomes(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    for sid, outcome in (("CA401", "busy"), ("CA402", "failed"), ("CA403", "canceled")):
        await post_twilio(tclient, "/twilio/voice", call_params(sid=sid))
        await post_twilio(tclient, "/twilio/dial", dial_params(sid, outcome, "0"))
        await post_twilio(tclient, "/twilio/status", status_params(sid, "completed", "9"))
    assert await telephony.recorder.drain(10)
    rows = await db.fetchall("SELECT provider_call_id, status, talk_s FROM calls ORDER BY id")
    assert [(r["provider_call_id"], r["status"]) for r in rows] == [
        ("CA401", "busy"),
        ("CA402", "failed"),
        ("CA403", "canceled"),
    ]


async def test_any_order_of_events_ends_in_the_same_call(db: Any, demo: Any) -> None:
    """Every order of one call's callbacks leaves the same row (a quarter of the 120
    permutations, spread over all of them, keeps this fast)."""
    from itertools import permutations

    from backend.telephony.matching import match

    def events(sid: str) -> list[CallEvent]:
        base = {
            "provider": "twilio",
            "call_id": sid,
            "tracking_number": TRACKING,
            "caller": "+819011112222",
        }
        return [
            CallEvent(kind="voice", ts_ms=1_000, status="ringing", forwarded_to=TARGET, **base),
            CallEvent(kind="status", ts_ms=1_500, status="ringing", **base),
            CallEvent(kind="dial", ts_ms=60_000, status="completed", talk_s=50, **base),
            CallEvent(kind="status", ts_ms=61_000, status="completed", duration_s=60, **base),
            CallEvent(kind="recording", ts_ms=62_000, recording_url="https://r/1", **base),
        ]

    seen = set()
    for n, order in enumerate(list(permutations(range(5)))[::4]):
        sid = f"CAP{n}"
        evs = events(sid)
        for i in order:
            await calls.record(db, evs[i], match)
        row = await db.fetchone(
            "SELECT status, talk_s, duration_s, recording_url, forwarded_to, started_ms, ended_ms,"
            " answered_ms, match_method, number_id FROM calls WHERE provider_call_id = :c",
            {"c": sid},
        )
        seen.add(tuple(row.values()))
    assert len(seen) == 1, seen
    (final,) = seen
    assert final[:5] == ("answered", 50, 60, "https://r/1", TARGET)
    assert final[5] == 1_000 and final[6] == 61_000 and final[7] == 10_000
