"""Leases: renewal, idle ttl, cooldown, least recently used, exhaustion, history, retirement."""

from __future__ import annotations

from backend.storage import SQLiteDatabase
from pool import leases
from pool.numbers import retire_number
from tests.pool.helpers import MIN, T0, make_pool_site, new_sessions


async def test_repeat_claim_returns_the_same_number_and_extends(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db)
    (s,) = await new_sessions(db, ps.site_id, 1)
    first = await leases.acquire(db, pool_id=ps.pool_id, session_id=s, now_ms=T0)
    again = await leases.acquire(db, pool_id=ps.pool_id, session_id=s, now_ms=T0 + 5 * MIN)
    assert first is not None and again is not None
    assert again.number_id == first.number_id and again.lease_id == first.lease_id
    assert again.reused and not first.reused
    assert again.expires_ms == T0 + 35 * MIN
    assert await db.fetchval("SELECT COUNT(*) FROM leases") == 1


async def test_idle_ttl_ends_a_lease_and_heartbeat_keeps_it(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db)
    a, b = await new_sessions(db, ps.site_id, 2)
    la = await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    lb = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0)
    assert la is not None and lb is not None
    assert await leases.heartbeat(db, lease_id=la.lease_id, now_ms=T0 + 29 * MIN) == T0 + 59 * MIN
    await leases.expire_due(db, pool_id=ps.pool_id, now_ms=T0 + 31 * MIN)
    ended = {r["id"]: r["ended_ms"] for r in await db.fetchall("SELECT id, ended_ms FROM leases")}
    assert ended == {la.lease_id: None, lb.lease_id: T0 + 30 * MIN}
    assert await leases.heartbeat(db, lease_id=lb.lease_id, now_ms=T0 + 31 * MIN) is None
    # The ended number rests from when the lease ended (its expiry), not from the sweep.
    assert (
        await db.fetchval(
            "SELECT last_released_ms FROM tracking_numbers WHERE id = :n", {"n": lb.number_id}
        )
        == T0 + 30 * MIN
    )


async def test_least_recently_used_and_cooldown(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=3, cooldown_ms=15 * MIN)
    s = await new_sessions(db, ps.site_id, 6)
    got = [await leases.acquire(db, pool_id=ps.pool_id, session_id=x, now_ms=T0) for x in s[:3]]
    assert [g.number_id for g in got if g] == ps.number_ids  # never used: in id order
    # Release the second, then the first: the second has rested longer.
    assert got[1] and got[0]
    await leases.release(db, lease_id=got[1].lease_id, now_ms=T0 + 1 * MIN)
    await leases.release(db, lease_id=got[0].lease_id, now_ms=T0 + 2 * MIN)
    during = await leases.acquire(db, pool_id=ps.pool_id, session_id=s[3], now_ms=T0 + 10 * MIN)
    assert during is not None and during.overflow  # both still cooling down
    first_free = await leases.acquire(db, pool_id=ps.pool_id, session_id=s[4], now_ms=T0 + 16 * MIN)
    assert first_free is not None and first_free.number_id == ps.number_ids[1]
    assert not first_free.overflow
    next_free = await leases.acquire(db, pool_id=ps.pool_id, session_id=s[5], now_ms=T0 + 17 * MIN)
    assert next_free is not None and next_free.number_id == ps.number_ids[0]


async def test_exhausted_overflow_policy_gives_the_overflow_number(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1)
    a, b, c = await new_sessions(db, ps.site_id, 3)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    lb = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0)
    lc = await leases.acquire(db, pool_id=ps.pool_id, session_id=c, now_ms=T0)
    assert lb is not None and lc is not None
    assert lb.overflow and lc.overflow and lb.number_id == lc.number_id == ps.overflow_id
    # Asking again while the pool is still full is the same exhaustion, not a new one.
    again = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0 + MIN)
    assert again is not None and again.overflow and again.lease_id == lb.lease_id
    assert await db.fetchval("SELECT exhausted_count FROM pools") == 2
    assert (
        await db.fetchval("SELECT COUNT(*) FROM pool_exhaustions WHERE outcome = 'overflow'") == 2
    )


async def test_overflow_session_moves_to_a_pool_number_when_one_frees(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1, cooldown_ms=0)
    a, b = await new_sessions(db, ps.site_id, 2)
    la = await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    lb = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0)
    assert la is not None and lb is not None and lb.overflow
    await leases.release(db, lease_id=la.lease_id, now_ms=T0 + MIN)
    moved = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0 + 2 * MIN)
    assert moved is not None and not moved.overflow and moved.number_id == ps.number_ids[0]
    live = await db.fetchall("SELECT number_id FROM leases WHERE ended_ms IS NULL")
    assert live == [{"number_id": ps.number_ids[0]}]


async def test_exhausted_original_policy_leaves_the_page_alone(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1, exhausted_policy="original")
    a, b = await new_sessions(db, ps.site_id, 2)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0) is None
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0 + MIN) is None
    assert await db.fetchval("SELECT exhausted_count FROM pools") == 1
    # After a full ttl the same session refused again is a new exhaustion.
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0 + 29 * MIN)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0 + 31 * MIN) is None
    assert await db.fetchval("SELECT exhausted_count FROM pools") == 2
    assert await db.fetchval("SELECT COUNT(*) FROM leases WHERE overflow = 1") == 0


async def test_overflow_policy_without_overflow_number_returns_none(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1, overflow=False)
    a, b = await new_sessions(db, ps.site_id, 2)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0) is None
    assert (
        await db.fetchval("SELECT outcome FROM pool_exhaustions WHERE session_id = :s", {"s": b})
        == "original"
    )


async def test_holders_answers_who_held_a_number_around_a_time(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1, ttl_ms=30 * MIN, grace_ms=10 * MIN, cooldown_ms=0)
    a, b = await new_sessions(db, ps.site_id, 2)
    la = await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    assert la is not None
    await leases.release(db, lease_id=la.lease_id, now_ms=T0 + 5 * MIN)
    lb = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0 + 8 * MIN)
    assert lb is not None and lb.number_id == la.number_id
    n = la.number_id

    async def who(at: int) -> list[int]:
        return [h.session_id for h in await leases.holders(db, number_id=n, at_ms=at)]

    assert await who(T0 - 1) == []
    assert await who(T0 + 4 * MIN) == [a]
    assert await who(T0 + 9 * MIN) == [b, a]  # a ended 4 minutes ago: within grace
    assert await who(T0 + 16 * MIN) == [b]  # a ended 11 minutes ago: beyond grace
    # b never heartbeats: it ended at its expiry (T0+38) though nothing stamped it yet.
    assert await who(T0 + 45 * MIN) == [b]
    assert await who(T0 + 49 * MIN) == []
    record = (await leases.holders(db, number_id=n, at_ms=T0 + 4 * MIN))[0]
    assert record.lease_id == la.lease_id and record.pool_id == ps.pool_id
    assert record.started_ms == T0 and record.ended_ms == T0 + 5 * MIN
    assert record.overflow is False and record.number_id == n


async def test_overflow_number_holders_are_marked(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1)
    a, b, c = await new_sessions(db, ps.site_id, 3)
    for s in (a, b, c):
        await leases.acquire(db, pool_id=ps.pool_id, session_id=s, now_ms=T0)
    assert ps.overflow_id is not None
    held = await leases.holders(db, number_id=ps.overflow_id, at_ms=T0 + MIN)
    assert sorted(h.session_id for h in held) == [b, c] and all(h.overflow for h in held)


async def test_retiring_waits_for_the_live_lease(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=2, cooldown_ms=0)
    a, b, c = await new_sessions(db, ps.site_id, 3)
    la = await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    assert la is not None and la.number_id == ps.number_ids[0]
    assert await retire_number(db, number_id=ps.number_ids[0], now_ms=T0 + MIN) == "retiring"
    assert await retire_number(db, number_id=ps.number_ids[1], now_ms=T0 + MIN) == "retired"
    # The holder keeps its number while it lasts.
    kept = await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0 + 2 * MIN)
    assert kept is not None and kept.number_id == ps.number_ids[0]
    # No one else gets either number.
    lb = await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0 + 2 * MIN)
    assert lb is not None and lb.overflow
    await leases.release(db, lease_id=la.lease_id, now_ms=T0 + 3 * MIN)
    rows = await db.fetchall(
        "SELECT status, retired_ms FROM tracking_numbers WHERE kind = 'pool' ORDER BY id"
    )
    assert rows == [
        {"status": "retired", "retired_ms": T0 + 3 * MIN},
        {"status": "retired", "retired_ms": T0 + MIN},
    ]
    lc = await leases.acquire(db, pool_id=ps.pool_id, session_id=c, now_ms=T0 + 4 * MIN)
    assert lc is not None and lc.overflow


async def test_retiring_ends_with_the_idle_ttl_on_a_sweep(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1)
    (a,) = await new_sessions(db, ps.site_id, 1)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    assert await retire_number(db, number_id=ps.number_ids[0], now_ms=T0) == "retiring"
    await leases.sweep(db, now_ms=T0 + 29 * MIN)
    assert await db.fetchval("SELECT status FROM tracking_numbers WHERE kind = 'pool'") == (
        "retiring"
    )
    await leases.sweep(db, now_ms=T0 + 31 * MIN)
    assert await db.fetchval("SELECT status FROM tracking_numbers WHERE kind = 'pool'") == (
        "retired"
    )


async def test_retired_overflow_number_is_no_longer_given(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=1)
    a, b = await new_sessions(db, ps.site_id, 2)
    assert ps.overflow_id is not None
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=a, now_ms=T0)
    assert await retire_number(db, number_id=ps.overflow_id, now_ms=T0) == "retired"
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=b, now_ms=T0) is None


async def test_concurrent_refusals_of_one_session_count_once(db: SQLiteDatabase) -> None:
    """A session asking from several tabs at once while the pool is full is one exhaustion
    (on PostgreSQL the claims really run at once: the check and the count must not race)."""
    import asyncio

    ps = await make_pool_site(db, size=1, exhausted_policy="original")
    holder, asker = await new_sessions(db, ps.site_id, 2)
    assert await leases.acquire(db, pool_id=ps.pool_id, session_id=holder, now_ms=T0)
    refused = await asyncio.gather(
        *(
            leases.acquire(db, pool_id=ps.pool_id, session_id=asker, now_ms=T0 + i)
            for i in range(20)
        )
    )
    assert refused == [None] * 20
    assert await db.fetchval("SELECT exhausted_count FROM pools") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM pool_exhaustions") == 1
