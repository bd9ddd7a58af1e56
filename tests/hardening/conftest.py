"""Fixtures of the hardening tests: a site with a pool big enough for a crowd."""

from __future__ import annotations

from typing import Any

import pytest

from backend.settings import Settings
from backend.storage import seed
from backend.storage.seed import CROWD_SITE, CROWD_TARGET
from pool.store import Store
from tests.conftest import make_settings

__all__ = ["CROWD_SITE", "CROWD_TARGET", "seed_crowd", "snapshot"]

CROWD_POOL_SIZE = 80


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The production defaults of the flood guard (the root fixture turns it off)."""
    return make_settings(database_url)


async def seed_crowd(db: Store) -> dict[str, Any]:
    """Site ``crowd`` (hosts shop.example and 127.0.0.1) with one pool of 80 numbers."""
    site = await seed.seed_site(db, "Crowd Ltd", seed.crowd(CROWD_POOL_SIZE))
    return {
        "site_id": site.site_id,
        "pool_id": site.pool.pool_id,
        "numbers": site.pool.numbers,
        "advertiser_id": site.advertiser_id,
    }


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
