"""Delivering call notifications in the background, once each, retried with backoff."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable
from typing import Any

import orjson

from attribution import outbound
from backend.notify import mail, webhook
from backend.notify.targets import TARGETS_SQL, as_seen_by, call_payload
from pool.store import Store, now_ms

log = logging.getLogger("callpath.notify")
NOT_ALLOWED = "not sent: the user who set this target up may no longer see this advertiser"


def _shown(target: dict[str, Any]) -> str:
    """A target as the log names it: a webhook's path and query often hold its secret."""
    if target["kind"] == "webhook":
        return outbound.redact(target["address"])
    return str(target["address"])


class Notifier:
    """Sends each (target, call, event) once; never blocks the caller."""

    def __init__(
        self,
        db: Callable[[], Store],
        *,
        smtp: mail.SmtpConfig | None,
        attempts: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        policy: outbound.OutboundPolicy | None = None,
    ) -> None:
        self._db = db
        self.smtp = smtp
        self.attempts = max(1, attempts)
        self.backoff_s = max(0.0, backoff_s)
        # Where webhooks may go (checked again at every send, see attribution.outbound).
        self.policy = policy or outbound.OutboundPolicy()
        self._client = outbound.outbound_client(timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, call_id: int, advertiser_id: int | None, event: str) -> None:
        """Start delivering ``event`` ('started', 'completed' or 'voicemail') of a call to
        its targets (a voicemail goes to the targets of completed calls: it is how a
        missed call completes)."""
        if advertiser_id is None:
            return
        task = asyncio.create_task(self._deliver_all(call_id, advertiser_id, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, within_s: float = 30.0) -> None:
        """Wait for deliveries in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within_s)

    async def close(self) -> None:
        """Give deliveries in flight a moment, then stop."""
        await self.wait(within_s=5.0)
        for task in list(self._tasks):
            task.cancel()
        await self._client.aclose()

    async def _deliver_all(self, call_id: int, advertiser_id: int, event: str) -> None:
        try:
            db = self._db()
            subscribed = "completed" if event == "voicemail" else event
            targets = await db.fetchall(TARGETS_SQL, {"a": advertiser_id, "e": subscribed})
            if not targets:
                return
            call = await call_payload(db, call_id)
            if call is None:
                return
            for target in targets:
                async with db.write() as tx:
                    delivery = await tx.fetchval(
                        "INSERT INTO notification_deliveries (target_id, call_id, event,"
                        " created_ms) VALUES (:t, :c, :e, :now)"
                        " ON CONFLICT (target_id, call_id, event) DO NOTHING RETURNING id",
                        {"t": target["id"], "c": call_id, "e": event, "now": now_ms()},
                    )
                if delivery is None:
                    continue  # announced already: the same callback arrived twice
                if not target["allowed"]:
                    # Whoever set it up may no longer see this advertiser's calls.
                    await self._mark(db, int(delivery), "failed", 0, NOT_ALLOWED)
                    continue
                seen = as_seen_by(call, bool(target["show_callers"]))
                await self._deliver(db, int(delivery), target, seen, event)
        except Exception:
            log.exception("notifications of call %s failed", call_id)

    async def _deliver(
        self, db: Store, delivery: int, target: dict[str, Any], call: dict[str, Any], event: str
    ) -> None:
        error = ""
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            try:
                await self._send_once(delivery, target, call, event)
            except (webhook.DeliveryError, smtplib.SMTPException, OSError) as exc:
                error = outbound.scrub(str(exc))[:500] or type(exc).__name__
                permanent = isinstance(exc, webhook.DeliveryError) and exc.permanent
                await self._mark(db, delivery, "pending", attempt, error)
                if permanent or attempt == self.attempts:
                    break
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            else:
                await self._mark(db, delivery, "sent", attempt, "")
                return
        log.warning(
            "notification %s to target %s (%s) failed: %s",
            delivery,
            target["id"],
            _shown(target),
            error,
        )
        await self._mark(db, delivery, "failed", attempt, error)

    async def _send_once(
        self, delivery: int, target: dict[str, Any], call: dict[str, Any], event: str
    ) -> None:
        name = f"call.{event}"
        if target["kind"] == "webhook":
            await self._post(target, name, delivery, {"call": call})
        elif target["kind"] == "email":
            if self.smtp is None:
                raise webhook.DeliveryError("SMTP is not configured", permanent=True)
            message = mail.compose(
                call,
                to=target["address"],
                sender=self.smtp.sender,
                event=name,
                tz=call["timezone"],
            )
            await mail.send(self.smtp, message)

    async def send_event(
        self, target: dict[str, Any], name: str, payload: dict[str, Any], delivery: int, title: str
    ) -> None:
        """Send one event that is not a call's (a reserved call's) to one target, once: the
        signed webhook (``{"event", "delivery", **payload}``) or an e-mail. Raises
        :class:`webhook.DeliveryError` (``permanent`` when trying again will not help),
        ``smtplib.SMTPException`` or ``OSError``; the caller retries (a durable job)."""
        if target["kind"] == "webhook":
            await self._post(target, name, delivery, payload)
            return
        if self.smtp is None:
            raise webhook.DeliveryError("SMTP is not configured", permanent=True)
        fields = payload.get("reservation", payload)
        message = mail.compose_event(
            name, fields, to=target["address"], sender=self.smtp.sender, title=title
        )
        await mail.send(self.smtp, message)

    async def _post(
        self, target: dict[str, Any], name: str, delivery: int, payload: dict[str, Any]
    ) -> None:
        """The signed webhook ``{"event", "delivery", **payload}`` to a webhook target."""
        body = orjson.dumps({"event": name, "delivery": delivery, **payload})
        await webhook.post(
            self._client,
            target["address"],
            body,
            secret=target["secret"],
            event=name,
            delivery=delivery,
            policy=self.policy,
        )

    async def _mark(self, db: Store, delivery: int, status: str, attempts: int, error: str) -> None:
        await db.execute(
            "UPDATE notification_deliveries SET status = :s, attempts = :a, last_error = :e,"
            " sent_ms = :sent WHERE id = :id",
            {
                "s": status,
                "a": attempts,
                "e": error,
                "sent": now_ms() if status == "sent" else None,
                "id": delivery,
            },
        )
