"""Three app instances on one PostgreSQL: lease claims stay exclusive across processes."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from backend.storage import open_database
from backend.storage.migrations import all_migrations, applied
from tests.storage.load import post_many
from tests.storage.seed import OVERLAPPING_LEASES, seed_pool
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_three_instances_take_2000_concurrent_claims_on_50_numbers(
    pg_database_url: str,
) -> None:
    # The instances start together on an empty database: they migrate it once between them.
    servers = [Server(pg_database_url) for _ in range(3)]
    await asyncio.gather(*(asyncio.to_thread(s.start, 60.0) for s in servers))
    try:
        db = await open_database(pg_database_url)
        try:
            # Short leases and no cooldown: numbers change hands many times during the run.
            seeded = await seed_pool(db, size=50, ttl_ms=300, cooldown_ms=0, overflow=True)
            body = orjson.dumps({"site": seeded.site_key, "url": "http://127.0.0.1/landing"})
            result = await post_many(
                [s.url for s in servers], "/v1/session", body, total=2000, concurrency=48
            )
            assert result.errors == 0
            assert dict(result.statuses) == {200: 2000}

            assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 2000
            # With an overflow number every claim leaves a lease row.
            assert await db.fetchval("SELECT COUNT(*) FROM leases") == 2000
            assert await db.fetchall(OVERLAPPING_LEASES) == []
            assert await applied(db) == [m.version for m in all_migrations()]
            pooled = await db.fetchval("SELECT COUNT(*) FROM leases WHERE overflow = 0")
            assert pooled > 50, "numbers were reused, so exclusivity was really tested"
        finally:
            await db.close()
    finally:
        for s in servers:
            s.stop()
