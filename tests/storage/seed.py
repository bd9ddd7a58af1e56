"""Seed an advertiser, a site and one pool of many numbers for the storage tests."""

from __future__ import annotations

from dataclasses import dataclass

from backend.storage import seed
from pool.store import Store


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
    """One site whose single target is swapped for a pool of ``size`` numbers
    (:func:`backend.storage.seed.scale`)."""
    spec = seed.scale(size, key=site_key, ttl_ms=ttl_ms, cooldown_ms=cooldown_ms, overflow=overflow)
    site = await seed.seed_site(db, "Scale test", spec)
    pool = site.pool
    return SeededPool(site_key, site.site_id, pool.pool_id, pool.number_ids, pool.overflow_id)


# Pairs of non-overflow leases of one number whose [started, ended) intervals overlap;
# a live lease (ended_ms NULL) runs to the end of time. Must always be empty.
OVERLAPPING_LEASES = (
    "SELECT a.id AS first, b.id AS second, a.number_id FROM leases a"
    " JOIN leases b ON b.number_id = a.number_id AND b.id > a.id"
    " WHERE a.overflow = 0 AND b.overflow = 0"
    "   AND a.started_ms < COALESCE(b.ended_ms, 9223372036854775807)"
    "   AND b.started_ms < COALESCE(a.ended_ms, 9223372036854775807)"
)
