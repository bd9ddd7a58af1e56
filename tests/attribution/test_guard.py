"""The flood guard's two limits, on the domain level (no HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

from attribution.guard import LEASE_CAP, RATE_LIMITED, FloodGuard, GuardLimits, live_sessions
from pool import leases
from pool.store import Store, now_ms


async def _session(db: Store, site_id: int, ip_hash: str) -> int:
    t = now_ms()
    async with db.write() as tx:
        session_id: int = await tx.fetchval(
            "INSERT INTO sessions (site_id, started_ms, last_seen_ms, ip_hash)"
            " VALUES (:s, :t, :t, :h) RETURNING id",
            {"s": site_id, "t": t, "h": ip_hash},
        )
    return session_id


def test_rate_limit_is_per_address_key() -> None:
    guard = FloodGuard(GuardLimits(rate_per_minute=60, burst=2))
    flood = guard.key("203.0.113.5")
    assert [guard.admit(flood, 0) for _ in range(3)] == [None, None, RATE_LIMITED]
    assert guard.admit(guard.key("203.0.113.6"), 0) is None
    assert guard.admit(flood, 1_000) is None
    # Every address of one IPv6 /64 shares one bucket.
    six = [guard.key(f"2001:db8::{n:x}") for n in range(3)]
    assert [guard.admit(k, 0) for k in six] == [None, None, RATE_LIMITED]


def test_a_zero_rate_turns_the_limit_off() -> None:
    guard = FloodGuard(GuardLimits(rate_per_minute=0, burst=1))
    assert all(guard.admit("k", 0) is None for _ in range(100))


async def test_live_sessions_counts_live_pool_leases_of_the_address(
    db: Store, crowd: dict[str, Any]
) -> None:
    site, pool = crowd["site_id"], crowd["pool_id"]
    t = now_ms()
    mine = [await _session(db, site, "h1") for _ in range(3)]
    other = await _session(db, site, "h2")
    for s in [*mine, other]:
        assert await leases.acquire(db, pool_id=pool, session_id=s, now_ms=t)
    assert await live_sessions(db, site_id=site, ip_hashes=["h1"], now_ms=t) == 3
    assert await live_sessions(db, site_id=site, ip_hashes=["h1"], now_ms=t, besides=mine[0]) == 2
    assert await live_sessions(db, site_id=site, ip_hashes=["h2"], now_ms=t) == 1
    assert await live_sessions(db, site_id=site + 1, ip_hashes=["h1"], now_ms=t) == 0
    # Yesterday's hash of the same address counts with today's.
    assert await live_sessions(db, site_id=site, ip_hashes=["h1", "h2"], now_ms=t) == 4
    assert await live_sessions(db, site_id=site, ip_hashes=["", "h2", "h2"], now_ms=t) == 1
    # Ended and expired leases hold nothing.
    await db.execute(
        "UPDATE leases SET ended_ms = :t WHERE session_id = :s", {"t": t, "s": mine[0]}
    )
    assert await live_sessions(db, site_id=site, ip_hashes=["h1"], now_ms=t) == 2
    assert await live_sessions(db, site_id=site, ip_hashes=["h1"], now_ms=t + 1_800_000) == 0


async def test_over_cap_lets_a_holder_renew(db: Store, crowd: dict[str, Any]) -> None:
    guard = FloodGuard(GuardLimits(live_sessions=2))
    site, pool = crowd["site_id"], crowd["pool_id"]
    t = now_ms()
    held = [await _session(db, site, "h") for _ in range(2)]
    for s in held:
        await leases.acquire(db, pool_id=pool, session_id=s, now_ms=t)
    newcomer = await _session(db, site, "h")
    check = {"site_id": site, "ip_hashes": ["h"], "now_ms": t}
    assert await guard.over_cap(db, **check, session_id=newcomer) == LEASE_CAP
    assert await guard.over_cap(db, **check, session_id=None) == LEASE_CAP
    assert await guard.over_cap(db, **check, session_id=held[0]) is None
    assert (
        await FloodGuard(GuardLimits(live_sessions=0)).over_cap(db, **check, session_id=None)
        is None
    )


async def test_lease_slot_makes_check_and_lease_one_step_per_address(
    db: Store, crowd: dict[str, Any]
) -> None:
    """Fifty concurrent visits from one address end with exactly the cap leased."""
    guard = FloodGuard(GuardLimits(live_sessions=3))
    site, pool = crowd["site_id"], crowd["pool_id"]
    t = now_ms()

    async def visit() -> bool:
        session_id = await _session(db, site, "flood")
        async with guard.lease_slot("flood"):
            if await guard.over_cap(
                db, site_id=site, ip_hashes=["flood"], now_ms=t, session_id=session_id
            ):
                return False
            return (
                await leases.acquire(db, pool_id=pool, session_id=session_id, now_ms=t) is not None
            )

    results = await asyncio.gather(*(visit() for _ in range(50)))
    assert sum(results) == 3
    assert await live_sessions(db, site_id=site, ip_hashes=["flood"], now_ms=t) == 3
    assert len(guard._locks) == 0  # nothing left behind


async def test_turns_are_first_come_and_survive_cancelled_waiters() -> None:
    guard = FloodGuard()
    order: list[str] = []
    release_first = asyncio.Event()

    async def holder(name: str, hold: asyncio.Event | None = None) -> None:
        async with guard.lease_slot("198.51.100.7"):
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(holder("first", release_first))
    await asyncio.sleep(0)
    waiters = {name: asyncio.create_task(holder(name)) for name in ("b", "c", "d")}
    other = asyncio.create_task(holder("other address"))
    await asyncio.sleep(0)
    # Waiting for one address does not hold up another.
    assert order == ["first"]
    guard_other = FloodGuard()
    async with guard_other.lease_slot("198.51.100.7"):
        pass
    waiters["c"].cancel()
    release_first.set()
    await asyncio.gather(first, waiters["b"], waiters["d"], other)
    assert order[:1] == ["first"] and "c" not in order
    assert order.index("b") < order.index("d")
    assert len(guard._locks) == 0


async def test_a_turn_handed_to_a_cancelled_waiter_passes_on() -> None:
    guard = FloodGuard()
    entered: list[str] = []
    tasks: dict[str, asyncio.Task[None]] = {}

    async def holder(name: str) -> None:
        async with guard.lease_slot("k"):
            entered.append(name)
            await asyncio.sleep(0)
        if name == "first":
            # The turn was handed to "second" just now; it has not run yet.
            tasks["second"].cancel()

    for name in ("first", "second", "third"):
        tasks[name] = asyncio.create_task(holder(name))
    await asyncio.wait_for(asyncio.gather(*tasks.values(), return_exceptions=True), 5)
    assert entered == ["first", "third"]
    assert tasks["second"].cancelled()
    assert len(guard._locks) == 0
