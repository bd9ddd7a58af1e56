"""Three app instances on one PostgreSQL: lease claims stay exclusive across processes."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from backend.storage import open_database
from backend.storage.migrations import all_migrations, applied
from bench._load import post_many
from pool.store import Store
from tests.storage.seed import OVERLAPPING_LEASES, seed_pool
from tests.support.server import Server
from tests.telephony.conftest import call_params, sign

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AUTH_TOKEN = "scaleout-twilio-token"


async def _same_call_sid_on_two_instances(db: Store, servers: list[Server]) -> None:
    tracking = await db.fetchval("SELECT number FROM tracking_numbers WHERE kind = 'pool' LIMIT 1")
    params = call_params(sid="CA" + "5" * 32, to=tracking)

    async def post(server: Server, client: httpx.AsyncClient) -> httpx.Response:
        url = server.url + "/twilio/voice"
        signature = sign(url, params, AUTH_TOKEN)
        return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    async with httpx.AsyncClient(timeout=20) as client:
        answers = await asyncio.gather(*(post(s, client) for s in servers))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert "<Dial" in answer.text and "+81355550000" in answer.text
    # Calls are recorded just after the answer: wait for the row, then make sure it stays one.
    count_sql = "SELECT COUNT(*) FROM calls WHERE provider_call_id = :c"
    deadline = asyncio.get_running_loop().time() + 20
    while await db.fetchval(count_sql, {"c": params["CallSid"]}) == 0:
        assert asyncio.get_running_loop().time() < deadline, "the call was never recorded"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    assert await db.fetchval(count_sql, {"c": params["CallSid"]}) == 1


async def test_three_instances_take_2000_concurrent_claims_on_50_numbers(
    pg_database_url: str,
) -> None:
    # The instances start together on an empty database: they migrate it once between them.
    servers = [
        Server(pg_database_url, env_extra={"CALLPATH_TWILIO_AUTH_TOKEN": AUTH_TOKEN})
        for _ in range(3)
    ]
    await asyncio.gather(*(asyncio.to_thread(s.start, 60.0) for s in servers))
    try:
        db = await open_database(pg_database_url)
        try:
            # Short leases and no cooldown: numbers change hands many times during the run.
            seeded = await seed_pool(db, size=50, ttl_ms=300, cooldown_ms=0, overflow=True)
            body = orjson.dumps({"site": seeded.site_key, "url": "http://127.0.0.1/landing"})
            result = await post_many(
                [s.url for s in servers],
                "/v1/session",
                body,
                total=2000,
                concurrency=48,
                keep_bodies=True,
                # Shared CI machines can be very slow; this test is about correctness only.
                timeout_s=300,
                deadline_s=1200,
                keepalive=False,
            )
            assert result.errors == 0, result.error_kinds
            assert dict(result.statuses) == {200: 2000}
            # Every visit was tracked: a pool number, or the overflow number when all were out.
            assert all(len(b["swaps"]) == 1 for b in result.bodies)  # type: ignore[arg-type]

            assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 2000
            # With an overflow number every claim leaves a lease row.
            assert await db.fetchval("SELECT COUNT(*) FROM leases") == 2000
            assert await db.fetchall(OVERLAPPING_LEASES) == []
            assert await applied(db) == [m.version for m in all_migrations()]
            pooled = await db.fetchval("SELECT COUNT(*) FROM leases WHERE overflow = 0")
            assert pooled > 50, "numbers were reused, so exclusivity was really tested"

            # Twilio retries a webhook, and a load balancer may send the retry elsewhere.
            await _same_call_sid_on_two_instances(db, servers[:2])
        finally:
            await db.close()
    finally:
        for s in servers:
            s.stop()
