"""A flood from one address cannot drain a pool while people keep getting numbers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from attribution.guard import hashes_of, live_sessions
from attribution.ingest import drop_counts
from backend.settings import Settings
from pool.store import Store, now_ms
from tests.hardening.conftest import BROWSER_HEADERS, CROWD_SITE

pytestmark = pytest.mark.slow

FLOOD = 5000
PEOPLE = 50


def _body(n: int) -> bytes:
    url = f"https://shop.example/lp?gclid=click{n}&utm_source=google&utm_medium=cpc"
    return orjson.dumps({"site": CROWD_SITE, "url": url, "referrer": "https://www.google.com/"})


@asynccontextmanager
async def from_address(app: Starlette, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address`` (the ASGI scope's client)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    headers = {**BROWSER_HEADERS, "origin": "https://shop.example"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


async def _flood_holds(db: Store, settings: Settings, site_id: int, address: str) -> int:
    hashes = hashes_of(settings.secret_key, address, site_id=site_id, now_ms=now_ms())
    return await live_sessions(db, site_id=site_id, ip_hashes=hashes, now_ms=now_ms())


@pytest.mark.stores("sqlite")
async def test_a_flood_of_5000_leaves_every_person_a_number(
    app: Starlette, db: Store, settings: Settings, crowd: dict[str, Any]
) -> None:
    cap = settings.ip_max_live_sessions
    assert 0 < cap and PEOPLE + cap <= len(crowd["numbers"])
    answers: dict[str, list[dict[str, Any]]] = {"flood": [], "people": []}
    gate = asyncio.Semaphore(64)

    async def send(client: httpx.AsyncClient, n: int, who: str) -> None:
        async with gate:
            r = await client.post("/v1/session", content=_body(n))
        assert r.status_code == 200, r.text
        answers[who].append(r.json())

    async with from_address(app, "203.0.113.66") as flood:
        people = [from_address(app, f"198.51.100.{i + 1}") for i in range(PEOPLE)]
        clients = [await p.__aenter__() for p in people]
        try:
            # One person arrives after every hundred flood requests.
            work = []
            for n in range(FLOOD):
                work.append(send(flood, n, "flood"))
                if n % (FLOOD // PEOPLE) == 0:
                    work.append(send(clients[n // (FLOOD // PEOPLE)], n, "people"))
            started = time.monotonic()
            await asyncio.gather(*work)
            elapsed = time.monotonic() - started
        finally:
            for p in people:
                await p.__aexit__(None, None, None)

    # Every person got one number of the pool, no two the same.
    assert len(answers["people"]) == PEOPLE
    got = [a["swaps"] for a in answers["people"]]
    assert all(len(s) == 1 for s in got), got
    numbers = [s[0]["number"] for s in got]
    assert len(set(numbers)) == PEOPLE and set(numbers) <= set(crowd["numbers"])

    # The flood holds at most the cap; every other answer looked like an untracked visit.
    assert len(answers["flood"]) == FLOOD
    served = [a for a in answers["flood"] if a["swaps"]]
    assert len(served) <= cap
    assert await _flood_holds(db, settings, crowd["site_id"], "203.0.113.66") <= cap
    for a in answers["flood"]:
        assert set(a) == {"token", "swaps", "ttl", "heartbeat"}
    drops = await drop_counts(db, site_id=crowd["site_id"])
    assert drops.get("rate_limited", 0) + drops.get("lease_cap", 0) == FLOOD - len(served)
    # Only what the rate limit let through got as far as being recorded as a session.
    admitted = FLOOD - drops.get("rate_limited", 0)
    assert admitted <= settings.ip_rate_burst + settings.ip_rate_per_minute * elapsed / 60 + 1
    today, yesterday = hashes_of(
        settings.secret_key, "203.0.113.66", site_id=crowd["site_id"], now_ms=now_ms()
    )
    flood_sessions = await db.fetchval(
        "SELECT COUNT(*) FROM sessions WHERE site_id = :s AND ip_hash IN (:a, :b)",
        {"s": crowd["site_id"], "a": today, "b": yesterday},
    )
    assert len(served) <= flood_sessions <= admitted


async def test_an_ipv6_flood_is_one_address_per_64(
    app: Starlette, db: Store, settings: Settings, crowd: dict[str, Any]
) -> None:
    """Rotating through a /64 buys nothing; the next /64 is someone else."""
    cap = settings.ip_max_live_sessions
    served = 0
    for n in range(60):
        async with from_address(app, f"2001:db8:66:1::{n + 1:x}") as c:
            r = await c.post("/v1/session", content=_body(n))
            assert r.status_code == 200
            served += bool(r.json()["swaps"])
    assert served <= cap
    assert await _flood_holds(db, settings, crowd["site_id"], "2001:db8:66:1::ffff") <= cap
    async with from_address(app, "2001:db8:66:2::1") as neighbour:
        r = await neighbour.post("/v1/session", content=_body(0))
        assert r.json()["swaps"]


async def test_a_returning_visitor_at_the_cap_keeps_its_number(
    app: Starlette, settings: Settings, crowd: dict[str, Any]
) -> None:
    """A shared office address at its cap: those holding numbers keep them on every page."""
    cap = settings.ip_max_live_sessions
    async with from_address(app, "192.0.2.10") as office:
        tokens = []
        for n in range(cap):
            first = (await office.post("/v1/session", content=_body(n))).json()
            assert first["swaps"]
            tokens.append((first["token"], first["swaps"]))
        newcomer = (await office.post("/v1/session", content=_body(99))).json()
        assert newcomer["swaps"] == []
        for token, swaps in tokens:
            body = orjson.loads(_body(7))
            again = await office.post("/v1/session", content=orjson.dumps({**body, "token": token}))
            assert again.json()["swaps"] == swaps
