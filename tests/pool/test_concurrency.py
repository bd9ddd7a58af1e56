"""500 concurrent claims on a pool of 20: never two live leases on one number."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from backend.settings import Settings
from backend.storage import SQLiteDatabase, open_database
from pool import leases
from pool.store import Store
from tests.pool.helpers import T0, make_pool_site, new_sessions

CLAIMS = 500
SIZE = 20


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # These tests are about who gets which number when 500 claims race, on a machine that
    # may be busy: no claim may give up waiting for storage (timeouts are tested in
    # tests/telephony/test_storage_timeouts.py).
    return settings.replace(visit_timeout_ms=0, db_acquire_timeout_ms=0, db_statement_timeout_ms=0)


async def _assert_invariants(db: Store, pool_id: int) -> None:
    doubled = await db.fetchall(
        "SELECT number_id, COUNT(*) AS n FROM leases WHERE ended_ms IS NULL AND overflow = 0"
        " GROUP BY number_id HAVING COUNT(*) > 1"
    )
    assert doubled == []
    per_session = await db.fetchall(
        "SELECT session_id, COUNT(*) AS n FROM leases WHERE ended_ms IS NULL"
        " GROUP BY session_id, pool_id HAVING COUNT(*) > 1"
    )
    assert per_session == []
    assert (
        await db.fetchval(
            "SELECT COUNT(DISTINCT number_id) FROM leases WHERE overflow = 0 AND pool_id = :p",
            {"p": pool_id},
        )
        == SIZE
    )


@pytest.mark.parametrize("policy", ["overflow", "original"])
async def test_500_claims_from_several_connections(
    db: SQLiteDatabase, settings: Settings, policy: str
) -> None:
    """Four stores on one database race as four processes would.

    On SQLite the file lock serializes them; on PostgreSQL the row locks and the unique
    backstop do.
    """
    ps = await make_pool_site(db, size=SIZE, exhausted_policy=policy)
    sessions = await new_sessions(db, ps.site_id, CLAIMS)
    stores = [
        await open_database(settings.database_url, migrate=False, settings=settings)
        for _ in range(4)
    ]
    try:
        results = await asyncio.gather(
            *(
                leases.acquire(stores[i % 4], pool_id=ps.pool_id, session_id=s, now_ms=T0 + i)
                for i, s in enumerate(sessions)
            )
        )
    finally:
        for store in stores:
            await store.close()
    real = [r for r in results if r is not None and not r.overflow]
    others = [r for r in results if r is None or r.overflow]
    assert len(real) == SIZE and len({r.number_id for r in real}) == SIZE
    assert len(others) == CLAIMS - SIZE
    if policy == "overflow":
        assert all(r is not None and r.number_id == ps.overflow_id for r in others)
    else:
        assert all(r is None for r in others)
    assert await db.fetchval("SELECT exhausted_count FROM pools") == CLAIMS - SIZE
    await _assert_invariants(db, ps.pool_id)


async def test_500_claims_through_v1_session(client: httpx.AsyncClient, db: SQLiteDatabase) -> None:
    """The public endpoint under 500 simultaneous visits of a site with one pool of 20."""
    ps = await make_pool_site(db, size=SIZE, site_key="busy")
    body: dict[str, Any] = {"site": "busy", "url": "https://example.jp/", "referrer": ""}
    responses = await asyncio.gather(
        *(client.post("/v1/session", json=body) for _ in range(CLAIMS))
    )
    assert all(r.status_code == 200 for r in responses)
    shown = [r.json()["swaps"][0]["number"] for r in responses]
    overflow = await db.fetchval(
        "SELECT number FROM tracking_numbers WHERE id = :n", {"n": ps.overflow_id}
    )
    pool_numbers = [n for n in shown if n != overflow]
    assert len(pool_numbers) == SIZE and len(set(pool_numbers)) == SIZE
    assert shown.count(overflow) == CLAIMS - SIZE
    await _assert_invariants(db, ps.pool_id)
