"""Seed an advertiser, a site and one pool of many numbers for the storage tests."""

from __future__ import annotations

from dataclasses import dataclass

from backend import accounts
from pool import numbers
from pool.store import Store, now_ms


@dataclass(frozen=True)
class SeededPool:
    """What :func:`seed_pool` created."""

    site_key: str
    site_id: int
    pool_id: int
    number_ids: list[int]
    overflow_id: int | None


async def seed_pool(
    db: Store,
    *,
    size: int,
    ttl_ms: int = 60_000,
    cooldown_ms: int = 0,
    overflow: bool = False,
    site_key: str = "scale",
) -> SeededPool:
    """One site whose single target is swapped for a pool of ``size`` numbers."""
    t = now_ms()
    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, "Scale test", t)
        site = await accounts.create_site(
            tx,
            advertiser_id=adv,
            site_key=site_key,
            name="Scale test site",
            domains=["127.0.0.1", "localhost"],
            now_ms=t,
        )
        target = await accounts.add_target(
            tx, site_id=site, number="+81355550000", label="main", now_ms=t
        )
        pool_id = await numbers.create_pool(
            tx,
            site_id=site,
            target_id=target,
            name="main",
            ttl_ms=max(ttl_ms, numbers.MIN_TTL_MS),
            grace_ms=0,
            cooldown_ms=cooldown_ms,
            now_ms=t,
        )
        if ttl_ms < numbers.MIN_TTL_MS:
            # Shorter than the product allows, so that numbers change hands within a test
            # that runs on the wall clock (the scale-out test).
            await tx.execute(
                "UPDATE pools SET ttl_ms = :ttl WHERE id = :p", {"ttl": ttl_ms, "p": pool_id}
            )
        ids = [
            await numbers.add_number(
                tx,
                advertiser_id=adv,
                number=f"+8150190{i:05d}",
                forward_to="+81355550000",
                site_id=site,
                pool_id=pool_id,
                now_ms=t,
            )
            for i in range(size)
        ]
        overflow_id = None
        if overflow:
            overflow_id = await numbers.add_number(
                tx,
                advertiser_id=adv,
                number="+815019099999",
                forward_to="+81355550000",
                kind="overflow",
                site_id=site,
                pool_id=pool_id,
                now_ms=t,
            )
    return SeededPool(site_key, site, pool_id, ids, overflow_id)


# Pairs of non-overflow leases of one number whose [started, ended) intervals overlap;
# a live lease (ended_ms NULL) runs to the end of time. Must always be empty.
OVERLAPPING_LEASES = (
    "SELECT a.id AS first, b.id AS second, a.number_id FROM leases a"
    " JOIN leases b ON b.number_id = a.number_id AND b.id > a.id"
    " WHERE a.overflow = 0 AND b.overflow = 0"
    "   AND a.started_ms < COALESCE(b.ended_ms, 9223372036854775807)"
    "   AND b.started_ms < COALESCE(a.ended_ms, 9223372036854775807)"
)
