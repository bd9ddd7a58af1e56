"""Lease claims racing each other on one store: never two live leases on one number."""

from __future__ import annotations

import asyncio
import itertools
import random

from pool import leases
from pool.store import Store, now_ms
from tests.storage.seed import OVERLAPPING_LEASES, seed_pool


async def _sessions(db: Store, site_id: int, count: int) -> list[int]:
    async with db.write() as tx:
        return [
            await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms) VALUES (:s, 0, 0)"
                " RETURNING id",
                {"s": site_id},
            )
            for _ in range(count)
        ]


async def _claim_while_retiring(
    db: Store, *, pool_id: int, session_id: int, number_id: int
) -> tuple[leases.Lease | None, str]:
    """A claim that holds its unit open while ``number_id`` is retired, then commits.

    Returns the claim's lease and the retirement's status."""
    from pool import numbers

    picked = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_claim() -> leases.Lease | None:
        async with db.write() as tx:
            lease = await leases.claim(
                tx, dialect=db.dialect, pool_id=pool_id, session_id=session_id, now_ms=now_ms()
            )
            picked.set()
            await go_on.wait()
            return lease

    claim = asyncio.create_task(slow_claim())
    await picked.wait()
    retire = asyncio.create_task(numbers.retire_number(db, number_id=number_id, now_ms=now_ms()))
    await asyncio.sleep(0.3)  # the retirement runs as far as it can meanwhile
    go_on.set()
    lease = await claim
    return lease, await retire


async def test_many_concurrent_claims_never_share_a_number(db: Store) -> None:
    seeded = await seed_pool(db, size=20, ttl_ms=60_000)
    sessions = await _sessions(db, seeded.site_id, 120)
    claims = await asyncio.gather(
        *(
            leases.acquire(db, pool_id=seeded.pool_id, session_id=s, now_ms=now_ms())
            for s in sessions
        )
    )
    granted = [c for c in claims if c is not None]
    assert len(granted) == 20  # every number once, the rest found the pool exhausted
    assert len({c.number_id for c in granted}) == 20
    assert await db.fetchall(OVERLAPPING_LEASES) == []
    assert await db.fetchval("SELECT exhausted_count FROM pools") == 100


async def test_churn_of_claims_releases_and_expiry_keeps_numbers_exclusive(db: Store) -> None:
    # Short leases and no cooldown: numbers change hands all the time, from several tasks.
    seeded = await seed_pool(db, size=6, ttl_ms=60_000, cooldown_ms=0, overflow=True)
    sessions = await _sessions(db, seeded.site_id, 40)
    rng = random.Random(7)
    # A clock that races ahead (a second per reading), so leases expire within the test;
    # each call reads it before it waits for the database, as a request handler does.
    ticks = itertools.count(now_ms(), 1000)

    async def visitor(session_id: int) -> None:
        for _ in range(6):
            lease = await leases.acquire(
                db, pool_id=seeded.pool_id, session_id=session_id, now_ms=next(ticks)
            )
            assert lease is not None  # the overflow number catches the rest
            if rng.random() < 0.4:
                await leases.release(db, lease_id=lease.lease_id, now_ms=next(ticks))
            await asyncio.sleep(rng.random() / 100)

    await asyncio.gather(*(visitor(s) for s in sessions))
    assert await db.fetchall(OVERLAPPING_LEASES) == []
    assert (
        await db.fetchval(
            "SELECT COUNT(*) FROM leases WHERE overflow = 0 AND number_id = :o",
            {"o": seeded.overflow_id},
        )
        == 0
    )
    # Numbers really were reused, so the check above had something to catch.
    reused = await db.fetchval(
        "SELECT COUNT(*) FROM (SELECT number_id FROM leases WHERE overflow = 0"
        " GROUP BY number_id HAVING COUNT(*) > 1) r"
    )
    assert reused > 0


async def test_two_claims_for_one_session_end_with_one_lease(db: Store) -> None:
    seeded = await seed_pool(db, size=10)
    (session,) = await _sessions(db, seeded.site_id, 1)
    claims = await asyncio.gather(
        *(
            leases.acquire(db, pool_id=seeded.pool_id, session_id=session, now_ms=now_ms())
            for _ in range(8)
        )
    )
    assert {c.lease_id for c in claims if c is not None} == {
        await db.fetchval("SELECT id FROM leases WHERE ended_ms IS NULL")
    }
    assert await db.fetchval("SELECT COUNT(*) FROM leases") == 1


async def test_a_number_retired_while_a_claim_on_it_commits_is_retiring_not_retired(
    db: Store,
) -> None:
    # Issue #25: on PostgreSQL, retire counted live leases and then set the status without
    # holding the number's row, so a claim that had picked the number (and held its row)
    # committed its lease in between: 'retired' with a live lease. Here the claim holds its
    # unit open while the retirement starts, then commits.
    seeded = await seed_pool(db, size=1, cooldown_ms=0)
    (session,) = await _sessions(db, seeded.site_id, 1)
    (number_id,) = seeded.number_ids
    lease, status = await _claim_while_retiring(
        db, pool_id=seeded.pool_id, session_id=session, number_id=number_id
    )
    assert lease is not None and lease.number_id == number_id
    assert status == "retiring"
    assert (
        await db.fetchval("SELECT status FROM tracking_numbers WHERE id = :n", {"n": number_id})
        == "retiring"
    )
    # Once the lease ends the number is retired, and no claim gets it again.
    await leases.release(db, lease_id=lease.lease_id, now_ms=now_ms())
    assert (
        await db.fetchval("SELECT status FROM tracking_numbers WHERE id = :n", {"n": number_id})
        == "retired"
    )
    (other,) = await _sessions(db, seeded.site_id, 1)
    assert (
        await leases.acquire(db, pool_id=seeded.pool_id, session_id=other, now_ms=now_ms()) is None
    )


async def test_the_overflow_number_retired_during_a_claim_is_not_leased(db: Store) -> None:
    seeded = await seed_pool(db, size=1, cooldown_ms=0, overflow=True)
    first, second = await _sessions(db, seeded.site_id, 2)
    assert await leases.acquire(db, pool_id=seeded.pool_id, session_id=first, now_ms=now_ms())
    assert seeded.overflow_id is not None
    lease, status = await _claim_while_retiring(
        db, pool_id=seeded.pool_id, session_id=second, number_id=seeded.overflow_id
    )
    live = await db.fetchval(
        "SELECT COUNT(*) FROM leases WHERE number_id = :n AND ended_ms IS NULL",
        {"n": seeded.overflow_id},
    )
    # Either the claim got the overflow number first and the retirement waits for its
    # lease, or the retirement came first and the claim found no overflow number.
    assert (
        (status, live) == ("retiring", 1) if lease is not None else (status, live) == ("retired", 0)
    )
