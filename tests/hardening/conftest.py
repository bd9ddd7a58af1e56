"""Fixtures of the hardening tests: a site with a pool big enough for a crowd."""

from __future__ import annotations

from typing import Any

import pytest

from backend import accounts
from backend.settings import Settings
from pool import numbers
from pool.store import Store, now_ms

CROWD_SITE = "crowd"
CROWD_TARGET = "+81312340000"
CROWD_POOL_SIZE = 80


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The production defaults of the flood guard (the root fixture turns it off)."""
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        log_level="warning",
    )


async def seed_crowd(db: Store) -> dict[str, Any]:
    """Site ``crowd`` (hosts shop.example and 127.0.0.1) with one pool of 80 numbers."""
    t = now_ms()
    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, "Crowd Ltd", t)
        site = await accounts.create_site(
            tx,
            advertiser_id=adv,
            site_key=CROWD_SITE,
            name="Crowd",
            domains=["shop.example", "127.0.0.1"],
            now_ms=t,
        )
        target = await accounts.add_target(
            tx, site_id=site, number=CROWD_TARGET, label="main", now_ms=t
        )
        pool = await numbers.create_pool(
            tx,
            site_id=site,
            target_id=target,
            name="main",
            ttl_ms=1_800_000,
            grace_ms=600_000,
            cooldown_ms=900_000,
            now_ms=t,
        )
        tracking = [f"+815020{n:06d}" for n in range(1, CROWD_POOL_SIZE + 1)]
        for number in tracking:
            await numbers.add_number(
                tx,
                advertiser_id=adv,
                number=number,
                forward_to=CROWD_TARGET,
                site_id=site,
                pool_id=pool,
                now_ms=t,
            )
    return {"site_id": site, "pool_id": pool, "numbers": tracking, "advertiser_id": adv}


@pytest.fixture
async def crowd(db: Store) -> dict[str, Any]:
    """The crowd site (see :func:`seed_crowd`) in the test's database."""
    return await seed_crowd(db)


# Drops are counted per site, day and reason (attribution/ingest.py): the one write a
# refused visit may make. Tests check those counters on their own.
COUNTERS = "ingest_counters"


async def snapshot(db: Store, *, counters: bool = False) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row of every table, to prove nothing changed.

    The drop counters are left out unless ``counters`` is true.
    """
    import hashlib

    if db.dialect == "postgresql":
        sql = (
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    tables = await db.fetchall(sql)
    out = {}
    for t in tables:
        if t["name"] == COUNTERS and not counters:
            continue
        rows = await db.fetchall(f'SELECT * FROM "{t["name"]}"')
        digest = hashlib.sha256(repr(sorted(repr(sorted(r.items())) for r in rows)).encode())
        out[t["name"]] = (len(rows), digest.hexdigest())
    return out


BROWSER_HEADERS = {
    "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/131.0.0.0 Safari/537.36",
    "accept-language": "ja,en-US;q=0.9,en;q=0.8",
    "content-type": "text/plain;charset=UTF-8",
}
