"""Leases: a tracking number held by one visitor session for a while.

A lease is *live* while ``ended_ms`` is NULL. Its ``expires_ms`` moves forward with every
heartbeat; a live lease past ``expires_ms`` is ended lazily (``ended_ms = expires_ms``) by the
next claim in its pool or by :func:`expire_due`. Ending a lease stamps the number's
``last_released_ms``, so the number rests for the pool's cooldown and the least recently
used free number is chosen next.

Every function that changes leases runs inside one unit of work (``db.write()``); on SQLite
that is ``BEGIN IMMEDIATE`` on the single writer, on PostgreSQL the candidate row is locked
with ``FOR UPDATE SKIP LOCKED``, and a partial unique index backs both.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from pool.store import Store, Tx

_P = ParamSpec("_P")
_R = TypeVar("_R")


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


async def _end_due(tx: Tx, pool_id: int, now: int) -> None:
    """End the pool's live leases whose idle ttl has passed, releasing their numbers."""
    # One statement picks the leases to end and the numbers are stamped from exactly those
    # rows: under PostgreSQL's READ COMMITTED two statements may see different leases, and
    # a number left unstamped could be claimed "before" its last lease ended.
    ended = await tx.fetchall(
        "UPDATE leases SET ended_ms = expires_ms"
        " WHERE pool_id = :p AND ended_ms IS NULL AND expires_ms <= :now"
        " RETURNING number_id, expires_ms, overflow",
        {"p": pool_id, "now": now},
    )
    released = [{"n": r["number_id"], "t": r["expires_ms"]} for r in ended if not r["overflow"]]
    if released:
        await tx.executemany(
            "UPDATE tracking_numbers SET last_released_ms = :t"
            " WHERE id = :n AND last_released_ms < :t",
            released,
        )


# SQLSTATEs of a unit of work that lost a race on PostgreSQL and may simply run again:
# unique violation (the partial unique index caught a concurrent claim of the same number,
# or a concurrent claim for the same session), serialization failure, deadlock.
_RACE_SQLSTATES = frozenset({"23505", "40001", "40P01"})
_ATTEMPTS = 5


def _retry_lost_race(unit: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """Run a whole unit of work again when PostgreSQL rolled it back for losing a race.

    With ``SKIP LOCKED`` the ``NOT EXISTS`` test reads a snapshot taken when the statement
    began, so a number whose lease a concurrent claim committed a moment earlier can still
    be picked; the unique index refuses the second lease and the claim runs again (it then
    sees the committed lease). SQLite's single writer never races, and its errors carry no
    ``sqlstate``, so they pass through untouched.
    """

    @functools.wraps(unit)
    async def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await unit(*args, **kwargs)
            except Exception as exc:
                if attempt == _ATTEMPTS or getattr(exc, "sqlstate", None) not in _RACE_SQLSTATES:
                    raise
        raise AssertionError("unreachable")

    return run


@_retry_lost_race
async def acquire(db: Store, *, pool_id: int, session_id: int, now_ms: int) -> Lease | None:
    """Lease a number of ``pool_id`` to ``session_id``, or renew the session's live lease.

    Returns None when the pool is exhausted and has no overflow number (the page then keeps
    its original number). Exhaustion is counted on the pool either way.
    """
    lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    async with db.write() as tx:
        pool = await tx.fetchone(
            "SELECT id, ttl_ms, cooldown_ms, overflow_number_id FROM pools WHERE id = :p",
            {"p": pool_id},
        )
        if pool is None:
            raise LookupError(f"no pool {pool_id}")
        await _end_due(tx, pool_id, now_ms)
        expires = now_ms + pool["ttl_ms"]
        held = await tx.fetchone(
            "SELECT l.id, l.number_id, l.overflow, n.number FROM leases l"
            " JOIN tracking_numbers n ON n.id = l.number_id"
            " WHERE l.session_id = :s AND l.pool_id = :p AND l.ended_ms IS NULL",
            {"s": session_id, "p": pool_id},
        )
        if held is not None and not held["overflow"]:
            await tx.execute(
                "UPDATE leases SET last_seen_ms = :now, expires_ms = :exp WHERE id = :id",
                {"now": now_ms, "exp": expires, "id": held["id"]},
            )
            return Lease(
                held["id"],
                pool_id,
                held["number_id"],
                held["number"],
                session_id,
                expires,
                overflow=False,
                reused=True,
            )
        if held is not None:
            # The session sat on the overflow number: try for a real one again.
            await tx.execute(
                "UPDATE leases SET ended_ms = :now WHERE id = :id",
                {"now": now_ms, "id": held["id"]},
            )
        free = await tx.fetchone(
            "SELECT id, number FROM tracking_numbers n"
            " WHERE n.pool_id = :p AND n.kind = 'pool' AND n.status = 'active'"
            "   AND n.last_released_ms <= :rested"
            "   AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.number_id = n.id"
            "                   AND l.ended_ms IS NULL AND l.overflow = 0)"
            " ORDER BY n.last_released_ms, n.id LIMIT 1" + lock,
            {"p": pool_id, "rested": now_ms - pool["cooldown_ms"]},
        )
        overflow = free is None
        if overflow:
            await tx.execute(
                "UPDATE pools SET exhausted_count = exhausted_count + 1 WHERE id = :p",
                {"p": pool_id},
            )
            if pool["overflow_number_id"] is None:
                return None
            free = await tx.fetchone(
                "SELECT id, number FROM tracking_numbers WHERE id = :id AND status = 'active'",
                {"id": pool["overflow_number_id"]},
            )
            if free is None:
                return None
        assert free is not None
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
            lease_id, pool_id, free["id"], free["number"], session_id, expires, overflow=overflow
        )


async def heartbeat(db: Store, *, lease_id: int, now_ms: int) -> int | None:
    """Extend a live lease; return its new expiry, or None when it has ended or expired."""
    async with db.write() as tx:
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


@_retry_lost_race
async def release(db: Store, *, lease_id: int, now_ms: int) -> bool:
    """End a live lease now (the visitor left); the number starts its cooldown."""
    async with db.write() as tx:
        row = await tx.fetchone(
            "SELECT number_id, overflow FROM leases WHERE id = :id AND ended_ms IS NULL",
            {"id": lease_id},
        )
        if row is None:
            return False
        # `ended_ms IS NULL` again: a concurrent expiry may have ended it since the SELECT.
        if not await tx.execute(
            "UPDATE leases SET ended_ms = :now WHERE id = :id AND ended_ms IS NULL",
            {"now": now_ms, "id": lease_id},
        ):
            return False
        if not row["overflow"]:
            await tx.execute(
                "UPDATE tracking_numbers SET last_released_ms = :now WHERE id = :n",
                {"now": now_ms, "n": row["number_id"]},
            )
        return True


@_retry_lost_race
async def expire_due(db: Store, *, pool_id: int, now_ms: int) -> None:
    """End every lease of the pool whose ttl has passed (a periodic sweep)."""
    async with db.write() as tx:
        await _end_due(tx, pool_id, now_ms)
