"""A call without a dial callback still has a talk time (issue #23, defect 5).

Twilio's ``<Dial action>`` callback carries the talk time (DialCallDuration). When a call
has none (a flow without it, or the callback lost), the caller's leg's CallDuration from
the status callback stands in, so the call can qualify; a dial callback, early or late,
replaces the stand-in.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.telephony.conftest import call_params, post_twilio


async def _call(db: Any, sid: str) -> dict[str, Any]:
    row = await db.fetchone(
        "SELECT status, talk_s, duration_s, qualified FROM calls WHERE provider_call_id = :c",
        {"c": sid},
    )
    assert row is not None
    return dict(row)


async def _call_after(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, sid: str, *events: tuple[str, str, str]
) -> dict[str, Any]:
    """The call ``sid`` once its voice webhook and then ``events`` have come in, in order.

    An event is (callback, status, duration): ``status`` callbacks carry CallStatus and
    CallDuration, ``dial`` callbacks DialCallStatus and DialCallDuration."""
    await post_twilio(tclient, "/twilio/voice", call_params(sid=sid))
    for callback, status, duration in events:
        prefix = "Dial" if callback == "dial" else ""
        fields = {f"{prefix}CallStatus": status, f"{prefix}CallDuration": duration}
        await post_twilio(tclient, f"/twilio/{callback}", call_params(sid=sid, **fields))
    assert await telephony.recorder.drain(5)
    return await _call(db, sid)


async def test_a_call_without_a_dial_callback_takes_its_talk_time_from_the_status(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    assert await _call_after(tclient, telephony, db, "CAS1", ("status", "completed", "95")) == {
        "status": "completed",
        "talk_s": 95,
        "duration_s": 95,
        "qualified": 1,  # the default rules: answered, 60 s of talk
    }


async def test_a_late_dial_callback_replaces_the_stand_in(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    events = [("status", "completed", "95"), ("dial", "completed", "40")]
    assert await _call_after(tclient, telephony, db, "CAS2", *events) == {
        "status": "answered",
        "talk_s": 40,
        "duration_s": 95,
        "qualified": 0,  # 40 s of talk is under the default 60
    }


async def test_with_a_dial_callback_the_status_duration_is_not_talk(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    events = [("dial", "no-answer", "0"), ("status", "completed", "30")]
    row = await _call_after(tclient, telephony, db, "CAS3", *events)
    assert (row["status"], row["talk_s"], row["qualified"]) == ("no-answer", 0, 0)
