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


async def test_a_call_without_a_dial_callback_takes_its_talk_time_from_the_status(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await post_twilio(tclient, "/twilio/voice", call_params(sid="CAS1"))
    status = call_params(sid="CAS1", CallStatus="completed", CallDuration="95")
    await post_twilio(tclient, "/twilio/status", status)
    assert await telephony.recorder.drain(5)
    assert await _call(db, "CAS1") == {
        "status": "completed",
        "talk_s": 95,
        "duration_s": 95,
        "qualified": 1,  # the default rules: answered, 60 s of talk
    }


async def test_a_late_dial_callback_replaces_the_stand_in(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await post_twilio(tclient, "/twilio/voice", call_params(sid="CAS2"))
    status = call_params(sid="CAS2", CallStatus="completed", CallDuration="95")
    await post_twilio(tclient, "/twilio/status", status)
    dial = call_params(sid="CAS2", DialCallStatus="completed", DialCallDuration="40")
    await post_twilio(tclient, "/twilio/dial", dial)
    assert await telephony.recorder.drain(5)
    assert await _call(db, "CAS2") == {
        "status": "answered",
        "talk_s": 40,
        "duration_s": 95,
        "qualified": 0,  # 40 s of talk is under the default 60
    }


async def test_with_a_dial_callback_the_status_duration_is_not_talk(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await post_twilio(tclient, "/twilio/voice", call_params(sid="CAS3"))
    dial = call_params(sid="CAS3", DialCallStatus="no-answer", DialCallDuration="0")
    await post_twilio(tclient, "/twilio/dial", dial)
    status = call_params(sid="CAS3", CallStatus="completed", CallDuration="30")
    await post_twilio(tclient, "/twilio/status", status)
    assert await telephony.recorder.drain(5)
    row = await _call(db, "CAS3")
    assert (row["status"], row["talk_s"], row["qualified"]) == ("no-answer", 0, 0)
