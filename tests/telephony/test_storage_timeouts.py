"""A locked table holds nobody forever (issue #25, item 2).

With a table locked far longer than the timeouts, a visit is answered untracked before
the lock ends (the page keeps its own numbers), a call is still put through and stored
once the lock ends, and ``/healthz`` answers at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from backend.settings import Settings
from backend.storage.trouble import storage_trouble
from tests.telephony.conftest import TARGET, call_params, post_twilio

VISIT = {"site": "demo", "url": "http://127.0.0.1/examples/?gclid=locked", "referrer": ""}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        visit_timeout_ms=700, db_statement_timeout_ms=1_000, db_acquire_timeout_ms=500
    )


@asynccontextmanager
async def _leases_locked(settings: Settings, store_kind: str) -> AsyncIterator[None]:
    """The leases table (PostgreSQL) or the whole file (SQLite) locked by someone else."""
    url = settings.database_url
    if store_kind == "postgresql":
        conn = await asyncpg.connect(url.split("?")[0])
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE leases IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await tx.rollback()
            await conn.close()
    else:
        locker = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()


async def _while_locked(
    settings: Settings, store_kind: str, work: Callable[[], Any], hold_s: float = 4.0
) -> tuple[Any, bool]:
    """Run ``work`` while the lock is held for ``hold_s``; its result and whether it came
    back before the lock ended."""
    async with _leases_locked(settings, store_kind):
        task = asyncio.ensure_future(work())
        done, _ = await asyncio.wait({task}, timeout=hold_s)
        in_time = task in done
    return await task, in_time


async def test_a_visit_is_answered_untracked_before_the_lock_ends(
    tclient: httpx.AsyncClient, store_kind: str, settings: Settings, db: Any, app: Any
) -> None:
    before = sum(storage_trouble(app.state).failures.values())
    r, in_time = await _while_locked(
        settings, store_kind, lambda: tclient.post("/v1/session", json=VISIT)
    )
    assert in_time  # not left hanging until the lock ends
    assert r.status_code == 200
    assert r.json()["swaps"] == [] and r.json()["token"]
    assert sum(storage_trouble(app.state).failures.values()) > before
    # Once the lock is gone the same visitor is tracked again.
    r = await tclient.post("/v1/session", json=VISIT)
    assert r.status_code == 200 and r.json()["swaps"]


async def test_calls_are_put_through_and_stored_after_the_lock(
    tclient: httpx.AsyncClient, telephony: Any, store_kind: str, settings: Settings, db: Any
) -> None:
    telephony.recorder.write_timeout_s = 0.3
    r, in_time = await _while_locked(
        settings,
        store_kind,
        lambda: post_twilio(tclient, "/twilio/voice", call_params(sid="CALOCK1")),
    )
    assert in_time and r.status_code == 200
    assert ET.fromstring(r.text).find("Dial").findtext("Number") == TARGET
    assert await telephony.recorder.drain(20)
    assert await db.fetchval("SELECT provider_call_id FROM calls") == "CALOCK1"


async def test_health_answers_at_once_while_the_lock_holds(
    tclient: httpx.AsyncClient, store_kind: str, settings: Settings
) -> None:
    async def during_lock() -> tuple[httpx.Response, ...]:
        # Visits time out on the lock first (they are answered untracked), then health.
        visits = await asyncio.gather(*(tclient.post("/v1/session", json=VISIT) for _ in range(8)))
        assert all(v.status_code == 200 and v.json()["swaps"] == [] for v in visits)
        return (
            await tclient.get("/healthz"),
            await tclient.get("/healthz/calls"),
            await tclient.get("/healthz/details"),
        )

    (lb, calls, details), in_time = await _while_locked(settings, store_kind, during_lock)
    assert in_time
    # The visits' load balancer learns tracking is failing; the calls' one keeps the
    # instance, which answers calls from memory; the operator sees why.
    assert lb.status_code == 503 and lb.json()["ok"] is False
    assert calls.status_code == 200 and calls.json()["storage_writable"] is False
    assert details.status_code == 200
    assert details.json()["storage"]["failures"]["visit"] >= 8
    assert "TimeoutError" in details.json()["storage"]["last_error"]
    # Healthy again once the lock is gone and the failures are past.
    assert (await tclient.get("/healthz/calls")).status_code == 200


async def test_health_details_are_for_the_operator_only(app: Any, telephony: Any) -> None:
    # Paths and storage errors are not for the internet: the /metrics rule decides.
    outside = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(transport=outside, base_url="http://testserver") as c:
        assert (await c.get("/healthz/details")).status_code == 403
        assert (await c.get("/healthz")).status_code == 200  # the load balancers' checks
        assert (await c.get("/healthz/calls")).status_code == 200
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=local, base_url="http://testserver") as c:
        details = await c.get("/healthz/details")
        assert details.status_code == 200 and details.json()["storage"]["reachable"]


@pytest.mark.stores("postgresql")
async def test_a_read_the_server_does_not_answer_gives_up_on_this_side(
    settings: Settings, db: Any
) -> None:
    # The server's statement timeout off (as if the server or the network stalled): the
    # read still ends, after the command timeout, while the lock still holds.
    from backend.storage.postgres import PostgresDatabase

    reader = PostgresDatabase(settings.database_url, statement_timeout_ms=0, command_timeout_ms=300)
    await reader.open()
    try:

        async def read() -> Any:
            with pytest.raises(TimeoutError):
                await reader.fetchval("SELECT COUNT(*) FROM leases")
            return True

        gave_up, in_time = await _while_locked(settings, "postgresql", read, hold_s=3.0)
        assert gave_up and in_time
    finally:
        await reader.close()
