"""Leases: a tracking number held by one visitor session for a while.

A lease is *live* while ``ended_ms`` is NULL. Its ``expires_ms`` moves forward with every
heartbeat; a live lease past ``expires_ms`` is ended lazily (``ended_ms = expires_ms``) by the
next claim in its pool, by :func:`expire_due` or by :func:`sweep`. Ending a lease stamps the
number's ``last_released_ms``, so the number rests for the pool's cooldown and the least
recently used free number is chosen next. (While a number is held, that column holds its
lease's first expiry, so claims skip held numbers by an index range.) A number being
retired ('retiring') is never leased again and becomes 'retired' as soon as its last live
lease ends.

When no pool number is free the pool is *exhausted*: the site's ``exhausted_policy`` decides
('overflow': the pool's overflow number, marked ``overflow``, shared by every such session;
'original': no lease, the page keeps its number). Each exhaustion is logged in
``pool_exhaustions`` and counted on ``pools.exhausted_count`` once per session and idle ttl
(a session that keeps asking while the pool stays full is one exhaustion, not one per ask).

Every function that changes leases runs inside one unit of work (``db.write()``); on SQLite
that is ``BEGIN IMMEDIATE`` on the single writer, on PostgreSQL the candidate row is locked
with ``FOR UPDATE SKIP LOCKED``, and a partial unique index backs both.
"""

from __future__ import annotations

from dataclasses import dataclass

from pool.store import Row, Store, Tx, from_row, retry_lost_race


@dataclass(frozen=True)
class Lease:
    """A number handed to a session."""

    lease_id: int
    pool_id: int
    number_id: int
    number: str
    session_id: int
    expires_ms: int
    overflow: bool = False
    reused: bool = False
    national: str = ""  # display forms stored with the number ('' if added before m0009)
    international: str = ""


@dataclass(frozen=True)
class LeaseRecord:
    """One lease as kept in the history, for matching calls to sessions."""

    lease_id: int
    session_id: int
    pool_id: int
    number_id: int
    started_ms: int
    last_seen_ms: int
    expires_ms: int
    ended_ms: int | None
    overflow: bool


async def _finish_retirements(tx: Tx, now: int, number_ids: list[int] | None = None) -> None:
    """Numbers waiting to retire whose last live lease has ended are retired now.

    ``number_ids`` limits the check to the numbers whose leases just ended (cheap on every
    claim); None checks every number (the periodic sweep).
    """
    sql = (
        "UPDATE tracking_numbers SET status = 'retired', retired_ms = :now"
        " WHERE status = 'retiring' AND NOT EXISTS (SELECT 1 FROM leases l"
        "   WHERE l.number_id = tracking_numbers.id AND l.ended_ms IS NULL)"
    )
    if number_ids is None:
        await tx.execute(sql, {"now": now})
    elif number_ids:
        await tx.executemany(
            sql + " AND id = :n", [{"now": now, "n": n} for n in sorted(set(number_ids))]
        )


async def _end_due(tx: Tx, pool_id: int | None, now: int, dialect: str) -> None:
    """End live leases (of one pool, or all) whose idle ttl has passed; free their numbers."""
    scope = "" if pool_id is None else " AND pool_id = :p"
    params = {"p": pool_id, "now": now}
    due = "ended_ms IS NULL AND expires_ms <= :now" + scope
    if dialect == "postgresql":
        # Leases another claim is ending right now are left to it: waiting for its row
        # locks would queue every claim of a busy pool behind one another (and, taken in
        # different orders, deadlock them; PostgreSQL takes a second to notice).
        due = f"id IN (SELECT id FROM leases WHERE {due} ORDER BY id FOR UPDATE SKIP LOCKED)"
    # One statement picks the leases to end and the numbers are stamped from exactly those
    # rows: under PostgreSQL's READ COMMITTED two statements may see different leases, and
    # a number left unstamped could be claimed "before" its last lease ended.
    ended = await tx.fetchall(
        f"UPDATE leases SET ended_ms = expires_ms WHERE {due}"
        " RETURNING number_id, expires_ms, overflow",
        params,
    )
    if not ended:
        return
    # In number order, like every other claim: row locks taken in one order cannot deadlock.
    released = sorted(
        ({"n": r["number_id"], "t": r["expires_ms"]} for r in ended if not r["overflow"]),
        key=lambda r: r["n"],
    )
    if released:
        await tx.executemany(
            "UPDATE tracking_numbers SET last_released_ms = :t"
            " WHERE id = :n AND last_released_ms < :t",
            released,
        )
    await _finish_retirements(tx, now, [r["number_id"] for r in ended])


async def _renew(
    tx: Tx, held: Row, pool_id: int, session_id: int, now: int, expires: int
) -> Lease | None:
    """Extend the session's live lease; None if it ended meanwhile (a concurrent sweep)."""
    changed = await tx.execute(
        "UPDATE leases SET last_seen_ms = :now, expires_ms = :exp"
        " WHERE id = :id AND ended_ms IS NULL",
        {"now": now, "exp": expires, "id": held["id"]},
    )
    if not changed:
        return None
    return Lease(
        held["id"],
        pool_id,
        held["number_id"],
        held["number"],
        session_id,
        expires,
        overflow=bool(held["overflow"]),
        reused=True,
        national=held["national"],
        international=held["international"],
    )


async def _count_exhaustion(
    tx: Tx, pool: Row, session_id: int, now: int, outcome: str, *, seen_before: bool, dialect: str
) -> None:
    """Log one exhaustion; count it unless this session was already refused this ttl."""
    if seen_before:
        return
    if dialect == "postgresql":
        # Claims of one session (several tabs) run at once there: without the pool's row
        # lock each would find no earlier refusal and count its own.
        await tx.execute("SELECT 1 FROM pools WHERE id = :p FOR UPDATE", {"p": pool["id"]})
    if await tx.fetchval(
        "SELECT 1 FROM pool_exhaustions WHERE pool_id = :p AND session_id = :s AND ts_ms > :since",
        {"p": pool["id"], "s": session_id, "since": now - pool["ttl_ms"]},
    ):
        return
    await tx.execute(
        "INSERT INTO pool_exhaustions (pool_id, session_id, ts_ms, outcome)"
        " VALUES (:p, :s, :now, :o)",
        {"p": pool["id"], "s": session_id, "now": now, "o": outcome},
    )
    await tx.execute(
        "UPDATE pools SET exhausted_count = exhausted_count + 1 WHERE id = :p", {"p": pool["id"]}
    )


@retry_lost_race
async def acquire(db: Store, *, pool_id: int, session_id: int, now_ms: int) -> Lease | None:
    """:func:`claim` in a unit of work of its own (run again if it lost a race)."""

    async def unit(tx: Tx) -> Lease | None:
        return await claim(
            tx, dialect=db.dialect, pool_id=pool_id, session_id=session_id, now_ms=now_ms
        )

    return await db.transact(unit)


async def claim(
    tx: Tx, *, dialect: str, pool_id: int, session_id: int, now_ms: int
) -> Lease | None:
    """Lease a number of ``pool_id`` to ``session_id``, or renew the session's live lease.

    A session with a live lease on a pool number gets the same number back, extended by the
    pool's ttl. Otherwise the least recently released free number that has rested for the
    pool's cooldown is leased. When none is free the site's ``exhausted_policy`` applies:
    'overflow' leases the pool's overflow number with ``overflow=True``; 'original' (or an
    overflow policy without a usable overflow number) returns None and the page keeps its
    original number. A session sitting on the overflow number tries for a pool number again
    on each claim.

    Runs inside the caller's unit of work (``dialect`` is its store's: PostgreSQL locks the
    chosen row). On PostgreSQL a claim that lost a race raises; the caller runs its whole
    unit again (:func:`pool.store.retry_lost_race`).
    """
    lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    # One round trip for the pool and the session's live lease: a repeat visit (the
    # common case) is then one more statement. The lease is found by session and pool
    # alone (at most one is live: leases_live_session) and its expiry checked here: with
    # `expires_ms > :now` in the join PostgreSQL took that range, always past what its
    # statistics have seen, for one row, and walked every live lease of the pool instead.
    pool = await tx.fetchone(
        "SELECT p.id, p.ttl_ms, p.cooldown_ms, p.overflow_number_id, s.exhausted_policy,"
        " l.id AS held_id, l.number_id AS held_number_id, l.overflow AS held_overflow,"
        " l.expires_ms AS held_expires_ms, n.number AS held_number,"
        " n.national AS held_national, n.international AS held_international"
        " FROM pools p JOIN sites s ON s.id = p.site_id"
        " LEFT JOIN leases l ON l.session_id = :s AND l.pool_id = p.id AND l.ended_ms IS NULL"
        " LEFT JOIN tracking_numbers n ON n.id = l.number_id WHERE p.id = :p",
        {"p": pool_id, "s": session_id},
    )
    if pool is None:
        raise LookupError(f"no pool {pool_id}")
    expires = now_ms + pool["ttl_ms"]
    held: Row | None = None
    # A live lease past its ttl is not held: it ends below, with the pool's other due ones.
    if pool["held_id"] is not None and pool["held_expires_ms"] > now_ms:
        held = {
            "id": pool["held_id"],
            "number_id": pool["held_number_id"],
            "overflow": pool["held_overflow"],
            "number": pool["held_number"],
            "national": pool["held_national"],
            "international": pool["held_international"],
        }
    if held is not None and not held["overflow"]:
        renewed = await _renew(tx, held, pool_id, session_id, now_ms, expires)
        if renewed is not None:
            return renewed
        held = None
    # Leases of the pool past their ttl end now (this one's, if any, included).
    await _end_due(tx, pool_id, now_ms, dialect)
    pick = (
        "SELECT id, number, national, international FROM tracking_numbers n"
        " WHERE n.pool_id = :p AND n.kind = 'pool' AND n.status = 'active'"
        "   AND n.last_released_ms <= :rested"
        "   AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.number_id = n.id"
        "                   AND l.ended_ms IS NULL AND l.overflow = 0)"
        " ORDER BY n.last_released_ms, n.id LIMIT 1" + lock
    )
    rested = {"p": pool_id, "rested": now_ms - pool["cooldown_ms"]}
    free = await tx.fetchone(pick, rested)
    # The number is stamped with the lease's first expiry while held: the claim query's
    # range on that column then skips held numbers instead of walking past every one of
    # them (a big pool at high utilization); ending the lease stamps the real release time.
    # The stamp doubles as the last look: on PostgreSQL the pick's snapshot predates its
    # row lock, so a claim that held the lock and committed in between is not seen by it;
    # this statement has a fresh snapshot (READ COMMITTED: one per statement) and changes
    # nothing when the number was taken meanwhile, and the pick is made again. (On SQLite
    # the unit holds the only write lock from the start: it always takes.)
    while free is not None and not await tx.execute(
        "UPDATE tracking_numbers SET last_released_ms = :exp WHERE id = :n"
        " AND status = 'active' AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.number_id = :n"
        "   AND l.ended_ms IS NULL AND l.overflow = 0)",
        {"exp": expires, "n": free["id"]},
    ):
        free = await tx.fetchone(pick, rested)
    overflow = free is None
    if overflow:
        if pool["exhausted_policy"] == "overflow" and pool["overflow_number_id"] is not None:
            # Shared by every overflowing claim, so a shared lock: a retirement (which
            # locks the row for update) waits for the leases being made on it and counts them.
            share = " FOR SHARE" if dialect == "postgresql" else ""
            free = await tx.fetchone(
                "SELECT id, number, national, international FROM tracking_numbers"
                " WHERE id = :id AND status = 'active'" + share,
                {"id": pool["overflow_number_id"]},
            )
        if held is not None and free is not None and held["number_id"] == free["id"]:
            # Still full: the session keeps its overflow lease; not a new exhaustion.
            renewed = await _renew(tx, held, pool_id, session_id, now_ms, expires)
            if renewed is not None:
                return renewed
            held = None
        outcome = "original" if free is None else "overflow"
        await _count_exhaustion(
            tx, pool, session_id, now_ms, outcome, seen_before=held is not None, dialect=dialect
        )
    if held is not None:
        # The session sat on the overflow number: it moves to a pool number (or away).
        await tx.execute(
            "UPDATE leases SET ended_ms = :now WHERE id = :id",
            {"now": now_ms, "id": held["id"]},
        )
        await _finish_retirements(tx, now_ms, [held["number_id"]])
    if free is None:
        return None
    lease_id = await tx.fetchval(
        "INSERT INTO leases (pool_id, number_id, session_id, overflow, started_ms,"
        " last_seen_ms, expires_ms) VALUES (:p, :n, :s, :o, :now, :now, :exp) RETURNING id",
        {
            "p": pool_id,
            "n": free["id"],
            "s": session_id,
            "o": int(overflow),
            "now": now_ms,
            "exp": expires,
        },
    )
    return Lease(
        lease_id,
        pool_id,
        free["id"],
        free["number"],
        session_id,
        expires,
        overflow=overflow,
        national=free["national"],
        international=free["international"],
    )


async def heartbeat(db: Store, *, lease_id: int, now_ms: int) -> int | None:
    """Extend a live lease; return its new expiry, or None when it has ended or expired."""

    async def unit(tx: Tx) -> int | None:
        return await extend(tx, lease_id=lease_id, now_ms=now_ms)

    return await db.transact(unit)


async def extend(tx: Tx, *, lease_id: int, now_ms: int) -> int | None:
    """:func:`heartbeat` inside the caller's unit of work."""
    row = await tx.fetchone(
        "SELECT l.expires_ms, l.ended_ms, p.ttl_ms FROM leases l"
        " JOIN pools p ON p.id = l.pool_id WHERE l.id = :id",
        {"id": lease_id},
    )
    if row is None or row["ended_ms"] is not None or row["expires_ms"] <= now_ms:
        return None
    expires: int = now_ms + row["ttl_ms"]
    # `ended_ms IS NULL` again: on PostgreSQL a concurrent claim may have ended it since.
    changed = await tx.execute(
        "UPDATE leases SET last_seen_ms = :now, expires_ms = :exp"
        " WHERE id = :id AND ended_ms IS NULL",
        {"now": now_ms, "exp": expires, "id": lease_id},
    )
    return expires if changed else None


@retry_lost_race
async def release(db: Store, *, lease_id: int, now_ms: int) -> bool:
    """End a live lease now (the visitor left); the number starts its cooldown."""

    async def unit(tx: Tx) -> bool:
        row = await tx.fetchone(
            "SELECT number_id, overflow, expires_ms FROM leases"
            " WHERE id = :id AND ended_ms IS NULL",
            {"id": lease_id},
        )
        if row is None:
            return False
        # A lease already past its ttl ended then, not now: keep the history truthful.
        ended = min(now_ms, row["expires_ms"])
        # `ended_ms IS NULL` again: a concurrent expiry may have ended it since the SELECT.
        if not await tx.execute(
            "UPDATE leases SET ended_ms = :end WHERE id = :id AND ended_ms IS NULL",
            {"end": ended, "id": lease_id},
        ):
            return False
        if not row["overflow"]:
            await tx.execute(
                "UPDATE tracking_numbers SET last_released_ms = :end WHERE id = :n",
                {"end": ended, "n": row["number_id"]},
            )
        await _finish_retirements(tx, now_ms, [row["number_id"]])
        return True

    return await db.transact(unit)


@retry_lost_race
async def expire_due(db: Store, *, pool_id: int, now_ms: int) -> None:
    """End every lease of the pool whose ttl has passed (a periodic sweep)."""
    async with db.write() as tx:
        await _end_due(tx, pool_id, now_ms, db.dialect)


@retry_lost_race
async def sweep(db: Store, *, now_ms: int) -> None:
    """End every lease of every pool whose ttl has passed, and finish pending retirements."""
    async with db.write() as tx:
        await _end_due(tx, None, now_ms, db.dialect)
        await _finish_retirements(tx, now_ms)


async def holders(db: Store, *, number_id: int, at_ms: int) -> list[LeaseRecord]:
    """Leases of the number live at ``at_ms`` or ended within the pool's grace window before.

    A lease counts as live at ``at_ms`` when it started at or before it and had not ended
    (a live lease past its ``expires_ms`` ended then, even if not yet stamped). Most recently
    active (``last_seen_ms``) first. Overflow leases are included (``overflow=True``); an
    overflow number is shared, so it may have many holders. Pure read.
    """
    rows = await db.fetchall(
        "SELECT l.id, l.session_id, l.pool_id, l.number_id, l.started_ms, l.last_seen_ms,"
        " l.expires_ms, l.ended_ms, l.overflow FROM leases l JOIN pools p ON p.id = l.pool_id"
        " WHERE l.number_id = :n AND l.started_ms <= :at"
        " AND (CASE WHEN l.ended_ms IS NULL THEN l.expires_ms ELSE l.ended_ms END)"
        "     + p.grace_ms >= :at"
        " ORDER BY l.last_seen_ms DESC, l.id DESC",
        {"n": number_id, "at": at_ms},
    )
    return [_record(r) for r in rows]


def _record(r: Row) -> LeaseRecord:
    return from_row(LeaseRecord, r, lease_id="id")


async def released_within(
    db: Store, *, number_id: int, at_ms: int, window_ms: int
) -> list[LeaseRecord]:
    """Leases of the number that ended in the ``window_ms`` before ``at_ms``.

    A live lease past its ``expires_ms`` ended then. Most recently ended first. These are
    the number's previous holders who may still call it late (from the page they kept, or
    their phone's history), whoever holds it now. Pure read.
    """
    if window_ms <= 0:
        return []
    rows = await db.fetchall(
        "SELECT l.id, l.session_id, l.pool_id, l.number_id, l.started_ms, l.last_seen_ms,"
        " l.expires_ms, l.ended_ms, l.overflow FROM leases l"
        " WHERE l.number_id = :n AND l.started_ms <= :at"
        " AND (CASE WHEN l.ended_ms IS NULL OR l.ended_ms > l.expires_ms"
        "      THEN l.expires_ms ELSE l.ended_ms END) BETWEEN :since AND :at"
        " ORDER BY CASE WHEN l.ended_ms IS NULL OR l.ended_ms > l.expires_ms"
        "      THEN l.expires_ms ELSE l.ended_ms END DESC, l.id DESC",
        {"n": number_id, "at": at_ms, "since": at_ms - window_ms},
    )
    return [_record(r) for r in rows]
