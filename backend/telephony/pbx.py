"""The generic call webhook for other carriers and PBXs (Asterisk, FreeSWITCH, Kamailio).

``POST /webhooks/calls`` with a JSON body, signed (see :mod:`backend.telephony.signature`):

- ``{"event": "call.start", "call_id", "from", "to", "provider"?, "timestamp_ms"?}``
  answers ``{"action": "forward", "forward_to", "timeout", "record", "caller_id"}``, or
  ``{"action": "reject", "reason": "blocked"}``; an unknown number is a 404. The answer is
  the same sequence of verbs Twilio gets (:mod:`backend.telephony.verbs`), written as JSON
  by :func:`as_json`.
- ``{"event": "call.end", "call_id", "status", "duration"?, "talk"?, "recording_url"?}``
  completes the call; status is answered, busy, no-answer, failed, canceled or completed.

Both are idempotent on (provider, call_id) and recorded after the answer.
"""

from __future__ import annotations

import re
import time
from typing import Any

from backend.errors import ApiError
from backend.http import string_field
from backend.telephony import sanitize, verbs
from backend.telephony.calls import OUTCOMES, CallEvent
from backend.telephony.routing import Route
from backend.telephony.service import Telephony
from pool.numbers import NumberError, to_e164
from pool.store import now_ms

EVENTS = ("call.start", "call.end")
END_STATUSES = (*OUTCOMES, "completed")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


def _count(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 7 * 86400:
        raise ApiError(422, "invalid", f"Field {name!r} must be seconds (0..604800).", field=name)
    return value


def _number(data: dict[str, Any], name: str, region: str, *, required: bool) -> str:
    raw = string_field(data, name, max_len=40, required=required)
    if not raw:
        return ""
    try:
        return to_e164(raw, region)
    except NumberError:
        if name == "from":
            return raw  # withheld / odd caller ids are kept as sent
        raise ApiError(
            422, "invalid", f"Field {name!r} is not a phone number.", field=name
        ) from None


def parse(data: dict[str, Any]) -> CallEvent:
    """Validate a webhook body and turn it into a call event (4xx on bad input)."""
    data = sanitize.params(data)  # control characters out, as for every carrier
    event = string_field(data, "event", max_len=20, required=True)
    if event not in EVENTS:
        raise ApiError(422, "invalid", f"event must be one of {', '.join(EVENTS)}.", field="event")
    call_id = string_field(data, "call_id", max_len=128, required=True)
    provider = string_field(data, "provider", max_len=32) or "pbx"
    if not _PROVIDER.match(provider) or provider == "twilio":
        raise ApiError(
            422, "invalid", "provider must be a short lower-case name.", field="provider"
        )
    region = (string_field(data, "region", max_len=2) or "JP").upper()
    ts = data.get("timestamp_ms")
    if ts is None:
        ts = now_ms()
    elif isinstance(ts, bool) or not isinstance(ts, int) or not 0 < ts < 10**14:
        raise ApiError(
            422, "invalid", "timestamp_ms must be epoch milliseconds.", field="timestamp_ms"
        )
    common: dict[str, Any] = {
        "provider": provider,
        "call_id": call_id,
        "ts_ms": ts,
        "tracking_number": _number(data, "to", region, required=event == "call.start"),
        "caller": _number(data, "from", region, required=False),
        "payload": {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)},
    }
    if event == "call.start":
        return CallEvent(kind="start", started_ms=ts, status="ringing", **common)
    status = string_field(data, "status", max_len=20, required=True)
    if status not in END_STATUSES:
        raise ApiError(
            422, "invalid", f"status must be one of {', '.join(END_STATUSES)}.", field="status"
        )
    return CallEvent(
        kind="end",
        status=status,
        duration_s=_count(data, "duration"),
        talk_s=_count(data, "talk"),
        recording_url=string_field(data, "recording_url", max_len=1000),
        **common,
    )


async def answer(tel: Telephony, event: CallEvent) -> dict[str, Any]:
    """Queue the event, journal it, and say where a starting call goes (from memory)."""
    try:
        return _answer(tel, await _route(tel, event), event)
    finally:
        await tel.recorder.journaled()  # on disk before the answer (or the 404) leaves


async def _route(tel: Telephony, event: CallEvent) -> Route | None:
    if event.kind != "start":
        return None
    return await tel.table.for_call(event.tracking_number, budget_s=0.5)


def _answer(tel: Telephony, route: Route | None, event: CallEvent) -> dict[str, Any]:
    if event.kind != "start":
        tel.recorder.submit(event)
        return {"ok": True, "call_id": event.call_id}
    if route is None:
        tel.recorder.submit(event)
        raise ApiError(
            404, "unknown_number", f"{event.tracking_number} is not a tracking number here."
        )
    if tel.table.blocked(route.advertiser_id, event.caller):
        tel.recorder.submit(_with(event, status="blocked"))
        return as_json((verbs.Reject("blocked"),), event)
    tel.recorder.submit(_with(event, forwarded_to=route.forward_to))
    options = tel.table.options(route.advertiser_id)
    step = verbs.Forward(
        forward_to=route.forward_to,
        timeout_s=options.timeout_s,
        caller_id=route.number if options.caller_id == "tracking" else "",
        record=options.record,
    )
    return as_json(verbs.forward(step), event)


def as_json(answer: verbs.Answer, event: CallEvent) -> dict[str, Any]:
    """The PBX's mirror of a voice answer: its ``Dial`` as ``forward``, or its ``Reject``.

    A PBX plays its own prompts, so spoken verbs before the ``Dial`` (the recording notice)
    are left to it; a PBX shows the caller's own number when the dial names none.
    """
    dial = verbs.dial_of(answer)
    if dial is not None:
        return {
            "action": "forward",
            "call_id": event.call_id,
            "forward_to": dial.numbers[0].number,
            "timeout": dial.timeout_s,
            "record": dial.record,
            "caller_id": dial.caller_id or event.caller,
        }
    reject = next((verb for verb in answer if isinstance(verb, verbs.Reject)), None)
    if reject is not None:
        return {"action": "reject", "reason": reject.reason, "call_id": event.call_id}
    raise TypeError(f"no PBX answer for {answer!r}")  # a verb the JSON cannot carry yet


def _with(event: CallEvent, **changes: Any) -> CallEvent:
    from dataclasses import replace

    return replace(event, **changes)


def now_s() -> float:
    """Wall-clock seconds, for the replay window."""
    return time.time()
