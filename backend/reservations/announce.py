"""Telling the advertiser about its reserved calls: webhooks and e-mail.

Each event of a reservation (``booked``, ``reminder_sent``, ``connected``, ``missed``,
``rebooked``, ``cancelled``) goes to every active notification target of the advertiser
whose event is ``reservation`` (set up like call notifications: signed webhooks, or
e-mail). Each (event, window, target) is a durable job planned in the unit of work that
made the event, so it is delivered once even across restarts and instances, retried with
backoff, and the receiver can de-duplicate on ``X-Callpath-Delivery`` (the job's id).

What goes out is what the target's owner may see: the lead's phone masked unless they may
see callers, nothing once they may no longer see the advertiser, and never the lead's
rebooking link (it is the lead's key).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from attribution.exports import mask_caller
from backend import durable
from backend.notify import Notifier, targets, webhook
from pool.store import Store, Tx

log = logging.getLogger("callpath.reservations")
KIND = "reservation.notify"
EVENTS = ("booked", "reminder_sent", "connected", "missed", "rebooked", "cancelled")
TITLES = {
    "booked": "予約コール: 予約 / reserved call booked",
    "reminder_sent": "予約コール: リマインド送信 / reminder sent",
    "connected": "予約コール: 接続 / connected",
    "missed": "予約コール: 未接続 / not connected",
    "rebooked": "予約コール: 予約変更 / rebooked",
    "cancelled": "予約コール: キャンセル / cancelled",
}


async def plan(tx: Tx, row: dict[str, Any], event: str, now: int) -> None:
    """Plan the announcement of ``event`` to each of the advertiser's targets."""
    found = await tx.fetchall(
        "SELECT id FROM notification_targets WHERE advertiser_id = :a AND event = 'reservation'"
        " AND active = 1",
        {"a": row["advertiser_id"]},
    )
    rid = int(row["id"])
    for target in found:
        await durable.schedule(
            tx,
            kind=KIND,
            key=f"reservation:{rid}:notify:{event}:{row['start_ms']}:{target['id']}",
            ref=f"reservation:{rid}",
            due_ms=now,
            payload={"reservation": rid, "event": event, "target": target["id"]},
            now=now,
        )


def iso(ms: int | None, tz: str = "UTC") -> str | None:
    """An epoch-ms time as ISO 8601 in ``tz`` (None stays None)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz)).isoformat()


def describe(row: dict[str, Any], number: str, *, show_callers: bool) -> dict[str, Any]:
    """A reservation as the API and notifications show it (times in its time zone; the
    lead's phone masked unless ``show_callers``; never the lead's rebooking link)."""
    tz = row["timezone"]
    return {
        "id": row["id"],
        "advertiser_id": row["advertiser_id"],
        "lead_id": row["lead_ref"],
        "lead_name": row["lead_name"],
        "lead_phone": row["lead_phone"] if show_callers else mask_caller(row["lead_phone"]),
        "consent": bool(row["consent"]),
        "lang": row["lang"],
        "medium": row["medium"],
        "campaign": row["campaign"],
        "session_id": row["session_id"],
        "number": number,
        "start": iso(row["start_ms"], tz),
        "end": iso(row["end_ms"], tz),
        "timezone": tz,
        "status": row["status"],
        "rebooks": row["rebooks"],
        "retries": row["retries"],
        "first_attempt": iso(row["first_attempt_ms"], tz),
        "connected": iso(row["connected_ms"], tz),
        "talk_s": row["talk_s"],
        "outcome": row["outcome"],
    }


async def payload(db: Store, reservation_id: int, show_callers: bool) -> dict[str, Any] | None:
    """The reservation as a notification describes it."""
    row = await db.fetchone(
        "SELECT r.*, n.number FROM reservations r JOIN reservation_numbers n"
        " ON n.id = r.number_id WHERE r.id = :id",
        {"id": reservation_id},
    )
    return None if row is None else describe(row, row["number"], show_callers=show_callers)


def handler(db: Callable[[], Store], notifier: Callable[[], Notifier]) -> durable.Handler:
    """The durable job that delivers one announcement."""

    async def deliver(job: durable.Job) -> None:
        store = db()
        target = await targets.target_as_seen(store, int(job.payload["target"]))
        if target is None or not target["allowed"]:
            return  # removed, or its owner may no longer see this advertiser
        body = await payload(store, int(job.payload["reservation"]), bool(target["show_callers"]))
        if body is None:
            return
        event = str(job.payload["event"])
        name = f"reservation.{event}"
        try:
            await notifier().send_event(
                target, name, {"reservation": body}, job.id, TITLES.get(event, name)
            )
        except webhook.DeliveryError as exc:
            if exc.permanent:
                log.warning("reservation %s: %s not delivered: %s", body["id"], name, exc)
                return
            raise durable.Retry(str(exc)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise durable.Retry(f"{type(exc).__name__}: {exc}"[:300]) from None

    return deliver
