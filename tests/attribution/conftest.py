"""Fixtures for attribution tests: a site with one pool, numbers, sessions and calls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attribution.touch import freeze_touch
from backend.storage import seed
from pool import leases
from pool.store import Store

# MaxMind's test databases (MIT; see data/geoip/README.md), kept in the repo so a clean
# clone tests geo look-ups with nothing beside it.
GEOIP_DIR = Path(__file__).resolve().parents[1] / "data" / "geoip"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000


@dataclass
class World:
    """One advertiser, one site, one pool of tracking numbers and helpers to drive it."""

    db: Store
    advertiser_id: int = 0
    site_id: int = 0
    pool_id: int = 0
    numbers: list[str] = field(default_factory=list)
    number_ids: dict[str, int] = field(default_factory=dict)
    calls: int = 0

    async def session(self, at_ms: int) -> int:
        async with self.db.write() as tx:
            session_id: int = await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms) VALUES (:s, :t, :t)"
                " RETURNING id",
                {"s": self.site_id, "t": at_ms},
            )
        return session_id

    async def lease(self, session_id: int, at_ms: int) -> leases.Lease:
        lease = await leases.acquire(
            self.db, pool_id=self.pool_id, session_id=session_id, now_ms=at_ms
        )
        assert lease is not None
        return lease

    async def call(
        self,
        number: str,
        caller: str,
        at_ms: int,
        *,
        session_id: int | None = None,
        talk_s: int = 0,
        answered: bool = True,
        confidence: str = "high",
        candidates: list[int] | None = None,
    ) -> int:
        self.calls += 1
        ids = candidates if candidates is not None else [] if session_id is None else [session_id]
        async with self.db.write() as tx:
            call_id: int = await tx.fetchval(
                "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id, number_id,"
                " tracking_number, caller, started_ms, answered_ms, talk_s, session_id,"
                " match_confidence, match_candidates, match_candidate_ids, created_ms,"
                " updated_ms) VALUES ('test', :pid, :a, :s, :n, :num, :c, :t, :ans, :talk,"
                " :sess, :conf, :k, :ids, :t, :t) RETURNING id",
                {
                    "pid": f"CA{self.calls}",
                    "a": self.advertiser_id,
                    "s": self.site_id,
                    "n": self.number_ids.get(number),
                    "num": number,
                    "c": caller,
                    "t": at_ms,
                    "ans": at_ms + 5000 if answered else None,
                    "talk": talk_s,
                    "sess": session_id,
                    "conf": confidence if session_id is not None else "",
                    "k": len(ids),
                    "ids": json.dumps(ids),
                },
            )
            if session_id is not None:  # as telephony does when it stores the match
                await freeze_touch(tx, call_id=call_id, session_id=session_id)
        return call_id


async def build_world(
    db: Store,
    *,
    pool_size: int = 2,
    ttl_ms: int = 30 * MIN,
    grace_ms: int = 10 * MIN,
    cooldown_ms: int = 15 * MIN,
    overflow: bool = False,
) -> World:
    """The clinic: one Tokyo target with a pool of ``pool_size`` numbers and a flyer number."""
    tokyo = "+81312345678"
    pool = seed.PoolSpec(
        tokyo,
        seed.series("+81501700", pool_size),
        label="Tokyo",
        overflow="+815017009999" if overflow else None,
        ttl_ms=ttl_ms,
        grace_ms=grace_ms,
        cooldown_ms=cooldown_ms,
    )
    spec = seed.SiteSpec(
        "clinic",
        name="Clinic",
        domains=["clinic.example", "www.clinic.example"],
        pools=[pool],
        sources=[seed.SourceSpec("+815017008888", tokyo, "flyer")],
    )
    site = await seed.seed_site(db, "Clinic", spec, at_ms=T0)
    world = World(db, site.advertiser_id, site.site_id, site.pool.pool_id)
    world.numbers = list(site.pool.numbers)
    world.number_ids = {**site.pool.ids, **site.sources}
    return world


async def reused_number(
    db: Store,
    *,
    released_ms: int = T0 + 10 * MIN,
    second_ms: int = T0 + 40 * MIN,
    grace_ms: int = 10 * MIN,
    cooldown_ms: int = 15 * MIN,
) -> tuple[World, int, int, leases.Lease, leases.Lease]:
    """A pool of one number: session a holds it from T0 until ``released_ms``, session b
    from ``second_ms``. Returns the world, a, b and their leases."""
    w = await build_world(db, pool_size=1, grace_ms=grace_ms, cooldown_ms=cooldown_ms)
    a, b = await w.session(T0), await w.session(second_ms)
    la = await w.lease(a, T0)
    await leases.release(db, lease_id=la.lease_id, now_ms=released_ms)
    lb = await w.lease(b, second_ms)
    assert lb.number == la.number
    return w, a, b, la, lb


@pytest.fixture
async def world(db: Store) -> World:
    return await build_world(db)


@pytest.fixture
async def crowd(db: Store) -> dict[str, Any]:
    """The flood guard's crowd site (``backend.storage.seed.crowd``), as tests/hardening has it."""
    from tests.hardening.conftest import seed_crowd

    return await seed_crowd(db)
