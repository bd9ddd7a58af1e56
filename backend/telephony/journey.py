"""A call's journey through its flow: stored from the ``flow`` events the flow sends.

Each event (:meth:`backend.telephony.flows.Ctx.note`) is one row of ``call_journey`` and,
for some, a column of the call: the destination that answered (``answered_by``), the menu
choices (``menu_path``), the time in the queue (``queue_wait_s``), the voicemail, the flow
version and why a flow was not followed (``flow_fallback``); an ``sms`` step plans its
text (:mod:`backend.telephony.flowsms`). It runs inside
:func:`backend.telephony.calls.record`'s unit of work, only for an event not seen before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.telephony import flowsms
from pool.store import Tx

if TYPE_CHECKING:  # calls.record runs this module
    from backend.telephony.calls import CallEvent

# Journey entries as the call page names them (``what``).
KINDS = (
    "start",
    "schedule",
    "ring",
    "answered",
    "no-answer",
    "busy",
    "failed",
    "canceled",
    "menu",
    "menu_retry",
    "queue",
    "queue_left",
    "message",
    "voicemail_prompt",
    "voicemail",
    "sms",
    "sms_sent",
    "hangup",
    "fallback",
)


def _text(payload: dict[str, Any], key: str, limit: int = 300) -> str:
    value = payload.get(key, "")
    return str(value)[:limit] if value is not None else ""


async def apply(tx: Tx, call_id: int, event: CallEvent) -> None:
    """Store one journey event of a call (new: the caller checked it was not seen)."""
    p = event.payload
    what = _text(p, "what", 20)
    if what not in KINDS:
        return  # a later version's entry: kept in call_events, not shown
    wait = p.get("wait_s")
    wait_s = int(wait) if isinstance(wait, int) and not isinstance(wait, bool) else None
    detail = _text(p, "detail") or _text(p, "digits", 8) or _text(p, "recording_url", 1000)
    await tx.execute(
        "INSERT INTO call_journey (call_id, ts_ms, step, what, destination, detail, wait_s)"
        " VALUES (:c, :t, :s, :w, :d, :detail, :wait)",
        {
            "c": call_id,
            "t": event.ts_ms,
            "s": _text(p, "step", 32),
            "w": what,
            "d": _text(p, "destination", 40),
            "detail": detail if what != "menu" else _text(p, "digits", 8) or "default",
            "wait": wait_s,
        },
    )
    if what == "sms":
        # The text itself goes once the call has ended (backend.telephony.flowsms).
        await flowsms.plan(tx, call_id, p)
    sets, params = _columns(what, p, wait_s)
    if sets:
        await tx.execute(f"UPDATE calls SET {sets} WHERE id = :id", {**params, "id": call_id})


def _columns(what: str, p: dict[str, Any], wait_s: int | None) -> tuple[str, dict[str, Any]]:
    """The call's columns an entry sets (SQL fragment and parameters)."""
    if what == "start":
        detail = _text(p, "detail", 9)
        return "flow_version = :v", {"v": int(detail) if detail.isdigit() else None}
    if what == "answered":
        dest = _text(p, "destination", 40)
        return "answered_by = :d", {"d": dest}
    if what == "menu":
        entry = f"{_text(p, 'step', 32)}:{_text(p, 'digits', 1) or 'default'}"
        return (
            "menu_path = CASE WHEN menu_path = '' THEN :e ELSE menu_path || '>' || :e END",
            {"e": entry},
        )
    if what == "queue_left" and wait_s is not None:
        return "queue_wait_s = :w", {"w": wait_s}
    if what == "voicemail":
        return "voicemail_url = :u, voicemail_sid = :s", {
            "u": _text(p, "recording_url", 1000),
            "s": _text(p, "recording_sid", 64),
        }
    if what == "fallback":
        return "flow_fallback = :r", {"r": _text(p, "detail")}
    return "", {}
