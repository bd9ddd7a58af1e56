"""Reserved calls as the app runs them: booking with its jobs, texts, connections.

:mod:`pool.reservations` decides which number serves a window; this module adds what
happens around it, in the same unit of work as the booking:

- the durable jobs of a window (:mod:`backend.durable`): the reminder at T−15 min
  (``reservation.reminder``, dropped if the window has started), the close of the window
  (``reservation.close``: not connected → ``missed`` and the rebooking text), and after a
  call the lead did not answer the retry text (``reservation.retry``, useful until the
  window ends). A rebooked window's jobs are planned anew under keys naming the new start;
  a cancelled reservation's are cancelled.
- the texts, from templates (per advertiser, else the server's, else built in; ja / en),
  sent once per job (the job's key is the text's ``dedupe_key``).
- the billable connection (``reservation_connections``), recorded once per reservation.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from starlette.requests import Request

from attribution.tokens import Signer
from backend import durable
from backend.notify import Notifier
from backend.reservations import announce
from backend.settings import Settings
from backend.telephony import sms as texts
from backend.telephony.sms import Sms
from pool import reservations as rs
from pool.store import Store, Tx, now_ms, retry_lost_race

log = logging.getLogger("callpath.reservations")
_T = TypeVar("_T")
REBOOK_PURPOSE = "callpath.reservation.rebook"
KINDS = ("reminder", "retry", "rebook")
FIELDS = frozenset(
    {"advertiser", "lead_name", "date", "start", "end", "number", "link"}
)  # what a template may name
DEFAULT_TEMPLATES: dict[tuple[str, str], str] = {
    ("reminder", "ja"): "{advertiser}より本日{start}〜{end}に{number}からお電話します。"
    "日時の変更・キャンセル: {link}",
    ("reminder", "en"): "{advertiser} will call you today {start}-{end} from {number}. "
    "Change or cancel: {link}",
    ("retry", "ja"): "{advertiser}からお電話しましたが、つながりませんでした。{end}までに"
    "{number}から再度お電話します。",
    ("retry", "en"): "{advertiser} tried to call you. They will call again from {number} "
    "before {end}.",
    ("rebook", "ja"): "{advertiser}からのお電話がつながりませんでした。ご都合のよい日時を"
    "お選びください: {link}",
    ("rebook", "en"): "{advertiser} could not reach you. Pick another time: {link}",
}


@dataclass
class Reservations:
    """The reservation service of one app (``app.state.reservations``)."""

    settings: Settings
    db: Callable[[], Store]
    sms: Callable[[], Sms]
    clock: Callable[[], int] = now_ms
    signer: Signer = field(init=False)

    def __post_init__(self) -> None:
        self.signer = Signer(self.settings.secret_key, REBOOK_PURPOSE)

    @property
    def calendar(self) -> rs.Calendar:
        """The grain and buffer of holds, from the settings."""
        return rs.Calendar(
            slot_ms=self.settings.reservation_slot_minutes * rs.MINUTE_MS,
            buffer_ms=self.settings.reservation_buffer_minutes * rs.MINUTE_MS,
        )

    # --- booking -------------------------------------------------------------------------

    async def book(self, lead: rs.Lead, start_ms: int, end_ms: int) -> tuple[dict[str, Any], bool]:
        """Book the lead's window and plan its jobs; ``(reservation, made now)``.

        Raises :class:`pool.reservations.Unavailable` with the next free start."""
        rs.check_window(start_ms, end_ms, self.clock())
        db = self.db()

        @retry_lost_race
        async def unit(wait: bool) -> tuple[dict[str, Any], bool]:
            async def work(tx: Tx) -> tuple[dict[str, Any], bool]:
                now = self.clock()
                row, made = await rs.book(
                    tx, self.calendar, lead, start_ms, end_ms, dialect=db.dialect, now=now,
                    wait=wait,
                )  # fmt: skip
                if made:
                    await self._plan(tx, row, now)
                    await announce.plan(tx, row, "booked", now)
                return row, made

            return await db.transact(work)

        try:
            return await _contended(unit)
        except rs.Unavailable as exc:
            exc.next_start_ms = await rs.next_free(
                db, self.calendar, lead.advertiser_id, start_ms, end_ms - start_ms
            )
            raise

    async def rebook(self, reservation_id: int, start_ms: int, end_ms: int) -> dict[str, Any]:
        """Move a reservation to another window, its jobs with it."""
        rs.check_window(start_ms, end_ms, self.clock())
        db = self.db()

        @retry_lost_race
        async def unit(wait: bool) -> dict[str, Any]:
            async def work(tx: Tx) -> dict[str, Any]:
                now = self.clock()
                row = await _locked(tx, reservation_id, db.dialect)
                moved = await rs.rebook(
                    tx, self.calendar, row, start_ms, end_ms, dialect=db.dialect, now=now,
                    wait=wait,
                )  # fmt: skip
                await durable.cancel(tx, _ref(reservation_id), kinds=WINDOW_JOBS, now=now)
                await self._plan(tx, moved, now)
                await announce.plan(tx, moved, "rebooked", now)
                return moved

            return await db.transact(work)

        try:
            return await _contended(unit)
        except rs.Unavailable as exc:
            row = await self.get(reservation_id)
            exc.next_start_ms = await rs.next_free(
                db, self.calendar, int(row["advertiser_id"]), start_ms, end_ms - start_ms
            )
            raise

    async def cancel(self, reservation_id: int) -> dict[str, Any]:
        """Cancel a reservation: its number is free again, its jobs will not run."""
        db = self.db()

        async def work(tx: Tx) -> None:
            now = self.clock()
            row = await _locked(tx, reservation_id, db.dialect)
            await rs.cancel(tx, row, now=now)
            await durable.cancel(tx, _ref(reservation_id), kinds=WINDOW_JOBS, now=now)
            await announce.plan(tx, row, "cancelled", now)

        await db.transact(work)
        return await self.get(reservation_id)

    async def get(self, reservation_id: int) -> dict[str, Any]:
        """One reservation (LookupError when there is none)."""
        row = await self.db().fetchone(
            "SELECT * FROM reservations WHERE id = :id", {"id": reservation_id}
        )
        if row is None:
            raise LookupError(f"No reservation {reservation_id}.")
        return row

    async def _plan(self, tx: Tx, row: dict[str, Any], now: int) -> None:
        """The reminder and the close of a reservation's window."""
        rid, start, end = int(row["id"]), int(row["start_ms"]), int(row["end_ms"])
        remind_at = start - self.settings.reservation_reminder_minutes * rs.MINUTE_MS
        await durable.schedule(
            tx,
            kind="reservation.reminder",
            key=f"reservation:{rid}:reminder:{start}",
            ref=_ref(rid),
            due_ms=max(now, remind_at),
            useful_until_ms=start,  # a reminder after the window started is dropped
            payload={"reservation": rid, "start": start},
            now=now,
        )
        await durable.schedule(
            tx,
            kind="reservation.close",
            key=f"reservation:{rid}:close:{start}",
            ref=_ref(rid),
            due_ms=end,
            payload={"reservation": rid, "start": start},
            now=now,
        )

    # --- texts ---------------------------------------------------------------------------

    def rebook_link(self, reservation_id: int) -> str:
        """The lead's page for rebooking or cancelling (no login: the token is the key)."""
        base = self.settings.public_url.rstrip("/")
        return f"{base}/r/{self.signer.sign(reservation_id)}"

    def reservation_of_token(self, token: str) -> int | None:
        """The reservation a rebooking link names (None: forged or damaged)."""
        value = self.signer.read(token)
        return value if type(value) is int else None

    async def template(self, advertiser_id: int, kind: str, lang: str) -> str:
        """The advertiser's template, else the server's, else the built-in one."""
        rows = await self.db().fetchall(
            "SELECT advertiser_id, body FROM sms_templates WHERE kind = :k AND lang = :l"
            " AND advertiser_id IN (0, :a) ORDER BY advertiser_id DESC",
            {"k": kind, "l": lang, "a": advertiser_id},
        )
        if rows:
            return str(rows[0]["body"])
        return DEFAULT_TEMPLATES.get((kind, lang)) or DEFAULT_TEMPLATES[(kind, "ja")]

    async def fields(self, row: dict[str, Any]) -> dict[str, str]:
        """What a reservation's texts may say."""
        db = self.db()
        advertiser = await db.fetchval(
            "SELECT name FROM advertisers WHERE id = :a", {"a": row["advertiser_id"]}
        )
        number = await db.fetchval(
            "SELECT number FROM reservation_numbers WHERE id = :n", {"n": row["number_id"]}
        )
        zone = ZoneInfo(row["timezone"])

        def local(ms: int) -> datetime:
            return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)

        return {
            "advertiser": str(advertiser or ""),
            "lead_name": str(row["lead_name"]),
            "date": local(int(row["start_ms"])).strftime("%Y-%m-%d"),
            "start": local(int(row["start_ms"])).strftime("%H:%M"),
            "end": local(int(row["end_ms"])).strftime("%H:%M"),
            "number": str(number or ""),
            "link": self.rebook_link(int(row["id"])),
        }

    async def text(self, row: dict[str, Any], kind: str, key: str) -> texts.Sent:
        """Send the reservation's ``kind`` text once under ``key``."""
        body = texts.render(
            await self.template(int(row["advertiser_id"]), kind, row["lang"]),
            await self.fields(row),
        )
        return await self.sms().send(
            self.db(),
            to=row["lead_phone"],
            body=body,
            dedupe_key=key,
            advertiser_id=int(row["advertiser_id"]),
            ref=_ref(int(row["id"])),
            kind=kind,
        )

    # --- jobs ----------------------------------------------------------------------------

    def handlers(self) -> dict[str, durable.Handler]:
        """The durable jobs of reservations, by kind."""
        return {
            "reservation.reminder": self._remind,
            "reservation.retry": self._retry,
            "reservation.close": self._close,
        }

    async def _announce(self, row: dict[str, Any], event: str) -> None:
        now = self.clock()

        async def unit(tx: Tx) -> None:
            await announce.plan(tx, row, event, now)

        await self.db().transact(unit)

    async def _current(self, job: durable.Job) -> dict[str, Any] | None:
        """The job's reservation, if it is still booked for the window the job was for."""
        row = await self.db().fetchone(
            "SELECT * FROM reservations WHERE id = :id", {"id": job.payload["reservation"]}
        )
        if row is None or int(row["start_ms"]) != int(job.payload["start"]):
            return None
        return row

    async def _send(self, row: dict[str, Any], kind: str, key: str) -> texts.Sent | None:
        if not row["consent"]:
            return None  # the lead did not agree to texts
        try:
            return await self.text(row, kind, key)
        except texts.SmsError as exc:
            if exc.permanent:
                log.warning("reservation %s: %s text not sent: %s", row["id"], kind, exc)
                return None  # trying again will not help; the row says why
            raise durable.Retry(str(exc)) from None

    async def _remind(self, job: durable.Job) -> None:
        row = await self._current(job)
        if row is not None and row["status"] == "booked":
            sent = await self._send(row, "reminder", job.key)
            if sent is not None and sent.sid:
                await self._announce(row, "reminder_sent")

    async def _retry(self, job: durable.Job) -> None:
        row = await self._current(job)
        if row is not None and row["status"] == "booked":
            await self._send(row, "retry", job.key)

    async def _close(self, job: durable.Job) -> None:
        row = await self._current(job)
        if row is None or row["status"] not in rs.LIVE:
            return  # connected, cancelled or rebooked meanwhile
        db = self.db()
        now = self.clock()
        rid = int(row["id"])

        async def unit(tx: Tx) -> None:
            closed = await tx.execute(
                "UPDATE reservations SET status = 'missed', updated_ms = :now"
                " WHERE id = :id AND status = 'booked' AND start_ms = :start",
                {"now": now, "id": rid, "start": row["start_ms"]},
            )
            await durable.cancel(tx, _ref(rid), kinds=("reservation.retry",), now=now)
            if closed:
                await announce.plan(tx, row, "missed", now)

        await db.transact(unit)
        # Sent once under its key, also when this job runs again after a failed send.
        await self._send(row, "rebook", f"reservation:{rid}:rebook:{row['start_ms']}")

    # --- calls ---------------------------------------------------------------------------

    async def dial_ended(
        self, attempt_id: int, status: str, talk_s: int, recording_url: str
    ) -> None:
        """The bridged leg ended: connected (billable) or a retry planned."""
        db = self.db()
        now = self.clock()
        threshold = self.settings.reservation_connected_seconds
        retry_ms = self.settings.reservation_retry_minutes * rs.MINUTE_MS

        async def unit(tx: Tx) -> None:
            attempt = await tx.fetchone(
                "SELECT * FROM reservation_attempts WHERE id = :id", {"id": attempt_id}
            )
            if attempt is None or attempt["dial_status"]:
                return  # unknown, or this callback came before
            await tx.execute(
                "UPDATE reservation_attempts SET dial_status = :s, talk_s = :t,"
                " recording_url = :u WHERE id = :id",
                {"s": status, "t": talk_s, "u": recording_url, "id": attempt_id},
            )
            rid = attempt["reservation_id"]
            if rid is None:
                return
            row = await tx.fetchone("SELECT * FROM reservations WHERE id = :id", {"id": rid})
            if row is None:
                return
            if status == "completed" and talk_s >= threshold:
                if row["status"] != "connected":
                    await announce.plan(tx, row, "connected", now)
                await record_connection(tx, row, attempt["call_sid"], talk_s, now)
                await durable.cancel(tx, _ref(int(rid)), kinds=("reservation.retry",), now=now)
                return
            if row["status"] != "booked" or attempt["party"] != "advertiser":
                return
            await tx.execute(
                "UPDATE reservations SET retries = retries + 1, updated_ms = :now WHERE id = :id",
                {"now": now, "id": rid},
            )
            await durable.schedule(
                tx,
                kind="reservation.retry",
                key=f"reservation:{rid}:retry:{attempt_id}",
                ref=_ref(int(rid)),
                due_ms=now + retry_ms,
                useful_until_ms=int(row["end_ms"]),
                payload={"reservation": rid, "start": row["start_ms"]},
                now=now,
            )

        await db.transact(unit)


async def record_connection(
    tx: Tx, row: dict[str, Any], call_sid: str, talk_s: int, now: int
) -> None:
    """The reservation connected: a billable event, once per reservation."""
    await tx.execute(
        "UPDATE reservations SET status = 'connected', connected_ms = COALESCE(connected_ms,"
        " :now), talk_s = :t, updated_ms = :now WHERE id = :id",
        {"now": now, "t": talk_s, "id": row["id"]},
    )
    await tx.execute(
        "INSERT INTO reservation_connections (reservation_id, advertiser_id, medium, call_sid,"
        " connected_ms, talk_s) VALUES (:r, :a, :m, :sid, :now, :t)"
        " ON CONFLICT (reservation_id) DO NOTHING",
        {"r": row["id"], "a": row["advertiser_id"], "m": row["medium"], "sid": call_sid,
         "now": now, "t": talk_s},
    )  # fmt: skip


async def connections(
    db: Store, *, start_ms: int, end_ms: int, advertiser_id: int | None = None
) -> list[dict[str, Any]]:
    """The billable connections of a period (for billing): one row per connected
    reservation, ``connected_ms`` in ``[start_ms, end_ms)``, oldest first."""
    sql = (
        "SELECT id, reservation_id, advertiser_id, medium, call_sid, connected_ms, talk_s"
        " FROM reservation_connections WHERE connected_ms >= :a AND connected_ms < :b"
    )
    params: dict[str, Any] = {"a": start_ms, "b": end_ms}
    if advertiser_id is not None:
        sql += " AND advertiser_id = :adv"
        params["adv"] = advertiser_id
    return await db.fetchall(sql + " ORDER BY connected_ms, id", params)


# The jobs of one window, cancelled when it moves or is cancelled (announcements still go).
WINDOW_JOBS = ("reservation.reminder", "reservation.close", "reservation.retry")
CONTENDED_TRIES = 40


async def _contended(unit: Callable[[bool], Awaitable[_T]]) -> _T:
    """Run a booking unit; while the numbers it could take are being booked by others,
    again after a short random pause (no unit waits on another's lock, so no queue of
    waiting units forms); the last try waits for the locks."""
    for _ in range(CONTENDED_TRIES):
        try:
            return await unit(False)
        except rs.Contended:
            await asyncio.sleep(random.uniform(0.005, 0.05))
    return await unit(True)


def _ref(reservation_id: int) -> str:
    return f"reservation:{reservation_id}"


async def _locked(tx: Tx, reservation_id: int, dialect: str) -> dict[str, Any]:
    lock = " FOR UPDATE" if dialect == "postgresql" else ""
    row = await tx.fetchone(
        f"SELECT * FROM reservations WHERE id = :id{lock}", {"id": reservation_id}
    )
    if row is None:
        raise LookupError(f"No reservation {reservation_id}.")
    return row


def build(app: Any) -> Reservations:
    """The service of an app; registers its job handlers."""

    def db() -> Store:
        store: Store = app.state.db
        return store

    def sender() -> Sms:
        sms: Sms = app.state.telephony.sms
        return sms

    def notifier() -> Notifier:
        found: Notifier = app.state.telephony.notifier
        return found

    service = Reservations(app.state.settings, db, sender)
    app.state.job_handlers.update(service.handlers())
    app.state.job_handlers[announce.KIND] = announce.handler(db, notifier)
    return service


def reservations_of(request: Request) -> Reservations:
    """The reservation service of the request's app."""
    service: Reservations = request.app.state.reservations
    return service
