"""Reservation numbers and windows (予約型コール): which number serves a lead's window.

A reservation holds one number for its window plus a buffer before and after, rounded out
to the calendar's grain (``slot_ms``). The hold is written as one ``reservation_slots`` row
per grain; that table's primary key ``(number_id, slot_ms)`` is what makes a double booking
impossible on both stores, whatever races above it. Allocation tries the advertiser's own
numbers and the portal's shared ones, each booking starting at another one so concurrent
bookings spread out: on PostgreSQL a number is locked (``FOR NO KEY UPDATE``) while its
slots are checked and written, numbers locked by another booking are skipped and the unit
is tried again a moment later if they were all it had (:class:`Contended`); SQLite's single
writer serialises the whole unit.

A window that no number can serve is refused with :class:`Unavailable`, which carries the
earliest start from the requested one on at which a window of the same length is free.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pool.scope import Scope
from pool.store import Store, Tx

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
MAX_WINDOW_MS = 4 * HOUR_MS
MAX_AHEAD_MS = 90 * DAY_MS
SEARCH_MS = 14 * DAY_MS  # how far ahead the next free window is looked for
STATUSES = ("booked", "connected", "missed", "cancelled")
LIVE = ("booked", "missed")  # reservations that may still be rebooked or cancelled


class ReservationError(ValueError):
    """A reservation request that cannot be right (bad window, unknown reservation...)."""


class Unavailable(Exception):
    """No number is free for the window; ``next_start_ms``: the earliest free start (or
    None when none within the search horizon)."""

    def __init__(self, next_start_ms: int | None, duration_ms: int) -> None:
        super().__init__("no reservation number is free for this window")
        self.next_start_ms = next_start_ms
        self.duration_ms = duration_ms


class Contended(Exception):
    """Every number that may be free is being booked by another unit right now."""


@dataclass(frozen=True)
class Calendar:
    """The grain of holds and the buffer around each window."""

    slot_ms: int = 5 * MINUTE_MS
    buffer_ms: int = 5 * MINUTE_MS

    def hold(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """The time a window holds its number: buffers added, rounded out to the grain."""
        first = (start_ms - self.buffer_ms) // self.slot_ms * self.slot_ms
        last = -((-(end_ms + self.buffer_ms)) // self.slot_ms) * self.slot_ms
        return first, last

    def slots(self, start_ms: int, end_ms: int) -> list[int]:
        """The grains a window holds."""
        first, last = self.hold(start_ms, end_ms)
        return list(range(first, last, self.slot_ms))


def check_window(start_ms: int, end_ms: int, now: int) -> None:
    """Raise ReservationError for a window that cannot be booked."""
    if end_ms <= start_ms:
        raise ReservationError("the window must end after it starts")
    if end_ms - start_ms > MAX_WINDOW_MS:
        raise ReservationError("a window is at most 4 hours")
    if end_ms <= now:
        raise ReservationError("the window is over")
    if start_ms > now + MAX_AHEAD_MS:
        raise ReservationError("a window starts within 90 days")


async def candidates(tx: Tx | Store, advertiser_id: int) -> list[int]:
    """The numbers that may serve the advertiser's windows: its own, then shared, by id."""
    rows = await tx.fetchall(
        "SELECT id FROM reservation_numbers WHERE active = 1"
        " AND (advertiser_id = :a OR advertiser_id IS NULL) ORDER BY id",
        {"a": advertiser_id},
    )
    return [int(r["id"]) for r in rows]


async def allocate(
    tx: Tx,
    cal: Calendar,
    *,
    dialect: str,
    advertiser_id: int,
    reservation_id: int,
    start_ms: int,
    end_ms: int,
    prefer: int | None = None,
    wait: bool = False,
) -> int:
    """Hold a number for the window (slots written for ``reservation_id``); its id.

    ``prefer``: a number to try first (a rebooked lead keeps its number when it can).
    On PostgreSQL, when the only numbers that may be free are being booked by others right
    now, :class:`Contended` is raised (the caller runs its unit again a moment later)
    unless ``wait``: then it waits for them.
    Raises :class:`Unavailable` when every number is taken (nothing is written then).
    """
    slots = cal.slots(start_ms, end_ms)
    numbers = await candidates(tx, advertiser_id)
    if numbers:
        # Spread concurrent bookings over the numbers instead of all queueing on the first.
        turn = reservation_id % len(numbers)
        numbers = numbers[turn:] + numbers[:turn]
    if prefer in numbers:
        numbers.remove(prefer)
        numbers.insert(0, prefer)
    params = {"a": slots[0], "b": slots[-1]}
    busy_sql = (
        "SELECT 1 FROM reservation_slots WHERE number_id = :n AND slot_ms >= :a"
        " AND slot_ms <= :b LIMIT 1"
    )

    async def take(number_id: int) -> int:
        await tx.executemany(
            "INSERT INTO reservation_slots (number_id, slot_ms, reservation_id)"
            " VALUES (:n, :s, :r)",
            [{"n": number_id, "s": s, "r": reservation_id} for s in slots],
        )
        return number_id

    if dialect != "postgresql":  # the single writer: what is read is what is there
        for number_id in numbers:
            if not await tx.fetchval(busy_sql, {**params, "n": number_id}):
                return await take(number_id)
        raise Unavailable(None, end_ms - start_ms)
    # PostgreSQL: a number is locked while its slots are checked and written, so the check
    # sees every committed hold (NO KEY UPDATE: the key-share locks that the foreign keys
    # of slots and reservations take on the number do not conflict with it). Only numbers
    # that look free and nobody is booking are taken (SKIP LOCKED: no waiting); when the
    # others are being booked, Contended (the caller tries again), or with `wait` wait.
    waited: list[int] = []
    for number_id in numbers:
        if await tx.fetchval(busy_sql, {**params, "n": number_id}):
            continue
        locked = await tx.fetchval(
            "SELECT id FROM reservation_numbers WHERE id = :n FOR NO KEY UPDATE SKIP LOCKED",
            {"n": number_id},
        )
        if locked is None:
            waited.append(number_id)
        elif not await tx.fetchval(busy_sql, {**params, "n": number_id}):
            return await take(number_id)
    if waited and not wait:
        raise Contended()
    for number_id in sorted(waited):
        await tx.execute(
            "SELECT id FROM reservation_numbers WHERE id = :n FOR NO KEY UPDATE",
            {"n": number_id},
        )
        if not await tx.fetchval(busy_sql, {**params, "n": number_id}):
            return await take(number_id)
    raise Unavailable(None, end_ms - start_ms)


async def release(tx: Tx, reservation_id: int) -> None:
    """Give a reservation's number back for its window."""
    await tx.execute(
        "DELETE FROM reservation_slots WHERE reservation_id = :r", {"r": reservation_id}
    )


async def busy_slots(
    db: Store | Tx, numbers: Sequence[int], start: int, end: int
) -> dict[int, set[int]]:
    """The held grains of each number between ``start`` and ``end``."""
    held: dict[int, set[int]] = {n: set() for n in numbers}
    if not numbers:
        return held
    names = {f"n{i}": n for i, n in enumerate(numbers)}
    rows = await db.fetchall(
        "SELECT number_id, slot_ms FROM reservation_slots WHERE slot_ms >= :a AND slot_ms < :b"
        " AND number_id IN (" + ", ".join(":" + k for k in names) + ")",
        {"a": start, "b": end, **names},
    )
    for row in rows:
        held[int(row["number_id"])].add(int(row["slot_ms"]))
    return held


def _fits(cal: Calendar, held: dict[int, set[int]], start: int, duration: int) -> bool:
    wanted = cal.slots(start, start + duration)
    return any(not any(s in busy for s in wanted) for busy in held.values())


async def next_free(
    db: Store | Tx,
    cal: Calendar,
    advertiser_id: int,
    start_ms: int,
    duration_ms: int,
    *,
    within_ms: int = SEARCH_MS,
) -> int | None:
    """The earliest start from ``start_ms`` on (in steps of the grain) at which some number
    can serve a window of ``duration_ms``; None within ``within_ms``."""
    numbers = await candidates(db, advertiser_id)
    if not numbers:
        return None
    held = await busy_slots(
        db, numbers, start_ms - DAY_MS, start_ms + within_ms + duration_ms + DAY_MS
    )
    for start in range(start_ms, start_ms + within_ms, cal.slot_ms):
        if _fits(cal, held, start, duration_ms):
            return start
    return None


async def free_windows(
    db: Store,
    cal: Calendar,
    advertiser_id: int,
    *,
    duration_ms: int,
    after_ms: int,
    days: int,
    tz: str,
    hours: tuple[int, int] = (9, 21),
    step_ms: int = 30 * MINUTE_MS,
    limit: int = 60,
) -> list[int]:
    """Starts of free windows (local ``hours`` of the day in ``tz``, every ``step_ms``)."""
    numbers = await candidates(db, advertiser_id)
    if not numbers:
        return []
    zone = ZoneInfo(tz)
    held = await busy_slots(db, numbers, after_ms - DAY_MS, after_ms + (days + 1) * DAY_MS)
    local = datetime.fromtimestamp(after_ms / 1000, UTC).astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    found: list[int] = []
    for _ in range(days + 1):
        opening = day.replace(hour=hours[0])
        closing = day.replace(hour=hours[1])
        start = int(opening.timestamp() * 1000)
        while start + duration_ms <= int(closing.timestamp() * 1000):
            if start > after_ms and _fits(cal, held, start, duration_ms):
                found.append(start)
                if len(found) >= limit:
                    return found
            start += step_ms
        day = (day + timedelta(days=1, hours=2)).replace(hour=0)  # (DST-proof next day)
    return found


@dataclass(frozen=True)
class Lead:
    """What the portal sends about one lead (checked by the caller)."""

    advertiser_id: int
    lead_ref: str
    phone: str  # E.164
    name: str = ""
    consent: bool = False
    lang: str = "ja"
    medium: str = ""
    campaign: str = ""
    session_id: int | None = None
    timezone: str = "Asia/Tokyo"


async def book(
    tx: Tx,
    cal: Calendar,
    lead: Lead,
    start_ms: int,
    end_ms: int,
    *,
    dialect: str,
    now: int,
    wait: bool = False,
) -> tuple[dict[str, Any], bool]:
    """The lead's reservation and whether it was made now (False: the portal sent the same
    lead id before, and the reservation it made then is returned as it is).

    Raises :class:`Unavailable` (with the next free start) when no number is free; nothing
    is written then.
    """
    known = await tx.fetchone(
        "SELECT * FROM reservations WHERE advertiser_id = :a AND lead_ref = :ref",
        {"a": lead.advertiser_id, "ref": lead.lead_ref},
    )
    if known is not None:
        return known, False
    if not await candidates(tx, lead.advertiser_id):
        raise Unavailable(None, end_ms - start_ms)
    hold = cal.hold(start_ms, end_ms)
    row = {
        "a": lead.advertiser_id,
        "ref": lead.lead_ref,
        "name": lead.name,
        "phone": lead.phone,
        "consent": int(lead.consent),
        "lang": lead.lang,
        "medium": lead.medium,
        "campaign": lead.campaign,
        "session": lead.session_id,
        "start": start_ms,
        "end": end_ms,
        "hs": hold[0],
        "he": hold[1],
        "tz": lead.timezone,
        "now": now,
    }
    # The number is filled in below; 0 never names one (the row is rolled back if none).
    reservation_id = int(
        await tx.fetchval(
            "INSERT INTO reservations (advertiser_id, lead_ref, lead_name, lead_phone, consent,"
            " lang, medium, campaign, session_id, number_id, start_ms, end_ms, hold_start_ms,"
            " hold_end_ms, timezone, created_ms, updated_ms) VALUES (:a, :ref, :name, :phone,"
            " :consent, :lang, :medium, :campaign, :session, (SELECT MIN(id) FROM"
            " reservation_numbers), :start, :end, :hs, :he, :tz, :now, :now) RETURNING id",
            row,
        )
    )
    number_id = await allocate(
        tx,
        cal,
        dialect=dialect,
        advertiser_id=lead.advertiser_id,
        reservation_id=reservation_id,
        start_ms=start_ms,
        end_ms=end_ms,
        wait=wait,
    )
    await tx.execute(
        "UPDATE reservations SET number_id = :n WHERE id = :id",
        {"n": number_id, "id": reservation_id},
    )
    made = await tx.fetchone("SELECT * FROM reservations WHERE id = :id", {"id": reservation_id})
    assert made is not None
    return made, True


async def rebook(
    tx: Tx,
    cal: Calendar,
    reservation: dict[str, Any],
    start_ms: int,
    end_ms: int,
    *,
    dialect: str,
    now: int,
    wait: bool = False,
) -> dict[str, Any]:
    """Move a live reservation to another window (its number if free, else another)."""
    if reservation["status"] not in LIVE:
        raise ReservationError(f"a {reservation['status']} reservation cannot be rebooked")
    await release(tx, int(reservation["id"]))
    number_id = await allocate(
        tx,
        cal,
        dialect=dialect,
        advertiser_id=int(reservation["advertiser_id"]),
        reservation_id=int(reservation["id"]),
        start_ms=start_ms,
        end_ms=end_ms,
        prefer=int(reservation["number_id"]),
        wait=wait,
    )
    hold = cal.hold(start_ms, end_ms)
    await tx.execute(
        "UPDATE reservations SET number_id = :n, start_ms = :s, end_ms = :e,"
        " hold_start_ms = :hs, hold_end_ms = :he, status = 'booked', rebooks = rebooks + 1,"
        " first_attempt_ms = NULL, updated_ms = :now WHERE id = :id",
        {"n": number_id, "s": start_ms, "e": end_ms, "hs": hold[0], "he": hold[1],
         "now": now, "id": reservation["id"]},
    )  # fmt: skip
    moved = await tx.fetchone(
        "SELECT * FROM reservations WHERE id = :id", {"id": reservation["id"]}
    )
    assert moved is not None
    return moved


async def cancel(tx: Tx, reservation: dict[str, Any], *, now: int) -> None:
    """Cancel a live reservation and free its number."""
    if reservation["status"] not in LIVE:
        raise ReservationError(f"a {reservation['status']} reservation cannot be cancelled")
    await release(tx, int(reservation["id"]))
    await tx.execute(
        "UPDATE reservations SET status = 'cancelled', cancelled_ms = :now, updated_ms = :now"
        " WHERE id = :id",
        {"now": now, "id": reservation["id"]},
    )


def numbers_needed(bookings_per_hour: float, window_ms: int, cal: Calendar) -> int:
    """How many numbers serve ``bookings_per_hour`` windows of ``window_ms`` at the busiest
    hour: each number serves as many whole holds (window, buffers, grain) as fit an hour."""
    if bookings_per_hour <= 0:
        return 0
    first, last = cal.hold(0, window_ms)
    per_number = max(1, HOUR_MS // (last - first)) if last - first <= HOUR_MS else 0
    if per_number == 0:  # a hold longer than an hour: each booking keeps a number that long
        return math.ceil(bookings_per_hour * (last - first) / HOUR_MS)
    return math.ceil(bookings_per_hour / per_number)


async def capacity(db: Store, scope: Scope, *, start_ms: int, days: int) -> list[dict[str, Any]]:
    """Windows booked per number per hour from ``start_ms`` for ``days`` (live ones)."""
    # The numbers it may use (its own and the shared ones), and only its own windows on them.
    numbers, params = scope.condition("n", site=None, name="num")
    own, own_params = scope.condition("r", site=None, name="own")
    rows = await db.fetchall(
        "SELECT n.id AS number_id, n.number, r.start_ms FROM reservation_numbers n"
        " LEFT JOIN reservations r ON r.number_id = n.id AND r.status <> 'cancelled'"
        f" AND r.start_ms >= :a AND r.start_ms < :b AND {own}"
        f" WHERE n.active = 1 AND ({numbers} OR n.advertiser_id IS NULL) ORDER BY n.id",
        {**params, **own_params, "a": start_ms, "b": start_ms + days * DAY_MS},
    )
    hours: dict[tuple[int, str], dict[int, int]] = {}
    for row in rows:
        per = hours.setdefault((int(row["number_id"]), row["number"]), {})
        if row["start_ms"] is not None:
            hour = int(row["start_ms"]) // HOUR_MS * HOUR_MS
            per[hour] = per.get(hour, 0) + 1
    return [
        {"number_id": n, "number": number, "hours": [{"hour_ms": h, "windows": c}
                                                     for h, c in sorted(per.items())]}
        for (n, number), per in hours.items()
    ]  # fmt: skip


def overlapping(rows: Iterable[dict[str, Any]]) -> list[tuple[int, int]]:
    """Pairs of reservations (ids) holding one number at once (the tests' check)."""
    by_number: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] != "cancelled":
            by_number.setdefault(int(row["number_id"]), []).append(row)
    pairs: list[tuple[int, int]] = []
    for held in by_number.values():
        held.sort(key=lambda r: r["hold_start_ms"])
        for a, b in itertools.pairwise(held):
            if b["hold_start_ms"] < a["hold_end_ms"]:
                pairs.append((int(a["id"]), int(b["id"])))
    return pairs
