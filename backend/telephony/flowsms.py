"""Texts of a call flow's ``sms`` steps: planned while the call runs, sent once it ended.

A call passing an ``sms`` step (:func:`backend.telephony.flows.enter`) sends a ``flow``
event ``sms``; storing it (:mod:`backend.telephony.journey`) plans a durable job
(:mod:`backend.durable`) in the same unit of work, due :data:`LATEST_MS` later. The
caller's leg ending (Twilio's status callback, ``completed`` / ``busy`` / ``no-answer``…)
brings the call's texts forward to *now* (:func:`call_ended`), so a text goes as soon as
the call is over and never while the caller is still listening; a lost status callback
only delays it. The voice answer waits for none of this.

The job (:func:`handler`) reads the step from the flow version the call went through,
checks ``when`` against the call's outcome (``missed``: no one answered; ``answered``:
someone did), fills the template with the call's fields (:func:`fields`) and sends through
:class:`backend.telephony.sms.Sms` under the job's key (a job run twice texts once; a
number that replied STOP is never texted). Each text's outcome is a row of the call's
journey (``sms_sent``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from backend import durable
from backend.telephony import flowdoc
from backend.telephony.sms import Sms, SmsError, render
from pool.numbers import NumberError, formats, to_e164
from pool.store import Store, Tx, now_ms

log = logging.getLogger("callpath.telephony")
KIND = "flow.sms"
# A text waits for the call's end at most this long (its status callback lost).
LATEST_MS = 2 * 3_600_000
# ... and is not worth sending after this long.
USEFUL_MS = 24 * 3_600_000
# The caller's leg has ended (Twilio's CallStatus of the status callback).
ENDED = ("completed", "busy", "no-answer", "failed", "canceled")


def _ref(call_id: int) -> str:
    return f"call:{call_id}"


async def _ended(tx: Tx, call_id: int) -> bool:
    names = {f"e{i}": s for i, s in enumerate(ENDED)}
    found = await tx.fetchval(
        "SELECT 1 FROM call_events WHERE call_id = :c AND kind = 'status' AND status IN ("
        + ", ".join(":" + n for n in names)
        + ")",
        {"c": call_id, **names},
    )
    return bool(found)


async def plan(tx: Tx, call_id: int, payload: dict[str, Any]) -> None:
    """Plan the text of an ``sms`` step the call passed (``payload``: the flow event's);
    due now when the call has ended already (its callbacks came out of order)."""
    step = str(payload.get("step", ""))[:32]
    target, version = payload.get("target"), payload.get("v")
    if not step or not isinstance(target, int) or not isinstance(version, int):
        return
    now = now_ms()
    due = now if await _ended(tx, call_id) else now + LATEST_MS
    await durable.schedule(
        tx,
        kind=KIND,
        key=f"{KIND}:{call_id}:{step}",
        ref=_ref(call_id),
        due_ms=due,
        useful_until_ms=now + USEFUL_MS,
        payload={"call": call_id, "target": target, "v": version, "step": step},
        now=now,
    )


async def call_ended(tx: Tx, call_id: int) -> None:
    """The caller's leg ended: the call's planned texts are due now."""
    await tx.execute(
        "UPDATE jobs SET due_ms = :now, updated_ms = :now WHERE ref = :ref AND kind = :k"
        " AND status = 'pending' AND due_ms > :now",
        {"now": now_ms(), "ref": _ref(call_id), "k": KIND},
    )


_CALL_SQL = (
    "SELECT c.id, c.advertiser_id, c.caller, c.tracking_number, c.started_ms, c.status,"
    " c.answered_ms, c.answered_by, c.menu_path, c.touch_channel, c.touch_source,"
    " c.touch_medium, c.touch_campaign, c.touch_keyword, n.source_label, st.timezone,"
    " st.name AS site_name, a.name AS advertiser_name, t.number AS target_number,"
    " t.label AS target_label FROM calls c"
    " LEFT JOIN sites st ON st.id = c.site_id"
    " LEFT JOIN tracking_numbers n ON n.id = c.number_id"
    " LEFT JOIN advertisers a ON a.id = c.advertiser_id"
    " LEFT JOIN targets t ON t.id = :target"
    " WHERE c.id = :id"
)


def _national(number: str) -> str:
    """A number as people write it at home (``090-1234-5678``), else as it is."""
    try:
        return formats(to_e164(number)).national
    except (NumberError, ValueError):
        return number


def answered(call: dict[str, Any]) -> bool:
    """Whether someone answered the call."""
    return call["answered_ms"] is not None or call["status"] == "answered"


def fields(call: dict[str, Any]) -> dict[str, str]:
    """What an sms step's template may say of the call (``flowdoc.SMS_FIELDS``)."""
    zone = ZoneInfo(call["timezone"] or "Asia/Tokyo")
    started = datetime.fromtimestamp(int(call["started_ms"]) / 1000, UTC).astimezone(zone)
    values = {
        "caller": _national(call["caller"] or ""),
        "number": _national(call["tracking_number"] or ""),
        "target": _national(call["target_number"] or ""),
        "target_name": call["target_label"] or "",
        "site": call["site_name"] or "",
        "advertiser": call["advertiser_name"] or "",
        "source": call["touch_source"] or call["source_label"] or "",
        "medium": call["touch_medium"] or "",
        "campaign": call["touch_campaign"] or "",
        "keyword": call["touch_keyword"] or "",
        "channel": call["touch_channel"] or "",
        "date": started.strftime("%Y-%m-%d"),
        "time": started.strftime("%H:%M"),
        "status": "answered" if answered(call) else "missed",
        "answered_by": _national(call["answered_by"] or ""),
        "menu_path": call["menu_path"] or "",
    }
    assert set(values) == flowdoc.SMS_FIELDS
    return {k: str(v) for k, v in values.items()}


async def _step(db: Store, target: int, version: int, step_id: str) -> flowdoc.Step | None:
    """The step as the call's flow version has it (None: gone, or not an sms step)."""
    document = await db.fetchval(
        "SELECT document FROM call_flows WHERE target_id = :t AND version = :v",
        {"t": target, "v": version},
    )
    if not document:
        return None
    try:
        flow = flowdoc.parse(orjson.loads(document))
    except (flowdoc.FlowError, orjson.JSONDecodeError):
        return None
    step = flow.steps.get(step_id)
    return step if step is not None and step.type == "sms" else None


async def _journey(db: Store, call_id: int, step: str, to: str, detail: str) -> None:
    await db.execute(
        "INSERT INTO call_journey (call_id, ts_ms, step, what, destination, detail)"
        " VALUES (:c, :t, :s, 'sms_sent', :d, :detail)",
        {"c": call_id, "t": now_ms(), "s": step, "d": to, "detail": detail[:300]},
    )


def _recipients(step: flowdoc.Step, call: dict[str, Any]) -> list[tuple[str, str]]:
    """(number to text, what the journey shows) of each recipient; the caller's number
    is left out of the journey (the call shows it already)."""
    if step.to != ("caller",):
        return [(number, number) for number in step.to]
    try:
        return [(to_e164(call["caller"] or ""), "")]
    except (NumberError, ValueError):
        return []  # a withheld or foreign-format caller: no one to text


def handler(db: Callable[[], Store], sender: Callable[[], Sms]) -> durable.Handler:
    """The durable job that sends one sms step's texts of one ended call."""

    async def send(job: durable.Job) -> None:
        p = job.payload
        call_id, step_id = int(p["call"]), str(p["step"])
        store = db()
        step = await _step(store, int(p["target"]), int(p["v"]), step_id)
        row = await store.fetchone(_CALL_SQL, {"id": call_id, "target": int(p["target"])})
        if step is None or row is None:
            log.warning("text of call %s step %s: the step or the call is gone", call_id, step_id)
            return
        call = dict(row)
        outcome = "answered" if answered(call) else "missed"
        if step.when not in ("always", outcome):
            await _journey(store, call_id, step_id, "", f"skipped: {outcome}")
            return
        recipients = _recipients(step, call)
        if not recipients:
            await _journey(store, call_id, step_id, "", "skipped: no number")
            return
        body = render(step.template, fields(call))
        retry = ""
        for n, (to, shown) in enumerate(recipients):
            try:
                sent = await sender().send(
                    store,
                    to=to,
                    body=body,
                    dedupe_key=f"{job.key}:{n}",
                    advertiser_id=call["advertiser_id"],
                    ref=_ref(call_id),
                    kind="flow",
                )
            except SmsError as exc:
                if not exc.permanent:
                    retry = str(exc)
                    continue
                await _journey(store, call_id, step_id, shown, f"failed: {exc}")
                continue
            if sent.status != "duplicate":
                await _journey(store, call_id, step_id, shown, sent.status)
        if retry:
            raise durable.Retry(retry)

    return send
