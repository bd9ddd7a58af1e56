"""Helpers of the pool tests: a site with one pool of numbers, and sessions to lease to."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend import accounts
from pool import numbers
from pool.store import Store

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
    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, f"adv {site_key}", T0)
        site = await accounts.create_site(
            tx, advertiser_id=adv, site_key=site_key, name=site_key, domains=[], now_ms=T0
        )
        await tx.execute(
            "UPDATE sites SET exhausted_policy = :e, untracked_policy = :u WHERE id = :s",
            {"e": exhausted_policy, "u": untracked_policy, "s": site},
        )
        target_id = await accounts.add_target(
            tx, site_id=site, number=target, label="main", now_ms=T0
        )
        pool_id = await numbers.create_pool(
            tx,
            site_id=site,
            target_id=target_id,
            name="main",
            ttl_ms=ttl_ms,
            grace_ms=grace_ms,
            cooldown_ms=cooldown_ms,
            now_ms=T0,
        )
        ps = PoolSite(adv, site, site_key, target_id, target, pool_id)
        for n in range(first, first + size):
            ps.number_ids.append(
                await numbers.add_number(
                    tx,
                    advertiser_id=adv,
                    number=f"+8150{10_000_000 + n:08d}",
                    forward_to=target,
                    site_id=site,
                    pool_id=pool_id,
                    now_ms=T0,
                )
            )
        if overflow:
            ps.overflow_id = await numbers.add_number(
                tx,
                advertiser_id=adv,
                number=f"+8150{19_000_000 + first:08d}",
                forward_to=target,
                kind="overflow",
                site_id=site,
                pool_id=pool_id,
                now_ms=T0,
            )
    return ps


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
