"""Helpers of the pool tests: a site with one pool of numbers, and sessions to lease to."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.storage import seed
from pool import numbers
from pool.store import Store, Tx

T0 = 1_800_000_000_000  # a fixed "now" in epoch ms; tests move time by hand
MIN = 60_000


@dataclass
class PoolSite:
    """A site with one target, its pool, the pool numbers (in id order) and an overflow."""

    advertiser_id: int
    site_id: int
    site_key: str
    target_id: int
    target: str
    pool_id: int
    number_ids: list[int] = field(default_factory=list)
    overflow_id: int | None = None


async def make_pool_site(
    db: Store,
    *,
    size: int = 3,
    ttl_ms: int = 30 * MIN,
    grace_ms: int = 10 * MIN,
    cooldown_ms: int = 15 * MIN,
    overflow: bool = True,
    exhausted_policy: str = "overflow",
    untracked_policy: str = "pool",
    site_key: str = "s1",
    target: str = "+81312345678",
    first: int = 1,
) -> PoolSite:
    """Create an advertiser, a site with one target and a pool of ``size`` 050 numbers."""
    pool = seed.PoolSpec(
        target,
        seed.series("+8150", size, first=10_000_000 + first),
        overflow=f"+8150{19_000_000 + first:08d}" if overflow else None,
        ttl_ms=ttl_ms,
        grace_ms=grace_ms,
        cooldown_ms=cooldown_ms,
    )
    spec = seed.SiteSpec(
        site_key,
        pools=[pool],
        exhausted_policy=exhausted_policy,
        untracked_policy=untracked_policy,
    )
    site = await seed.seed_site(db, f"adv {site_key}", spec, at_ms=T0)
    made = site.pool
    return PoolSite(
        site.advertiser_id,
        site.site_id,
        site_key,
        made.target_id,
        target,
        made.pool_id,
        made.number_ids,
        made.overflow_id,
    )


async def add_pool(tx: Tx, *, site_id: int, target_id: int, name: str) -> int:
    """A pool for ``target_id`` with 30-minute leases, no grace and no cooldown."""
    return await numbers.create_pool(
        tx,
        site_id=site_id,
        target_id=target_id,
        name=name,
        ttl_ms=1_800_000,
        grace_ms=0,
        cooldown_ms=0,
        now_ms=T0,
    )


async def new_sessions(db: Store, site_id: int, count: int) -> list[int]:
    """``count`` fresh visitor sessions of a site."""
    ids = []
    async with db.write() as tx:
        for _ in range(count):
            ids.append(
                await tx.fetchval(
                    "INSERT INTO sessions (site_id, started_ms, last_seen_ms)"
                    " VALUES (:s, :t, :t) RETURNING id",
                    {"s": site_id, "t": T0},
                )
            )
    return ids
