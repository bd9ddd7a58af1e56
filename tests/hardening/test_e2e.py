"""End to end, against a real ``callpath serve`` with the flood guard on.

- a flood through a trusted loopback proxy (``X-Forwarded-For``, from 127.0.0.1, which
  the server names in ``CALLPATH_TRUSTED_PROXIES``) holds at most the cap
  while people from other addresses get numbers, even when the flood puts addresses of
  its own choosing in front of the header;
- in Debian's Chromium: a page on one of the site's hosts gets a number, the same page on
  a host that is not the site's keeps its own, and a browser that says
  ``HeadlessChrome`` keeps its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from backend.storage import open_database
from pool.numbers import formats
from tests.hardening.conftest import CROWD_SITE, CROWD_TARGET, seed_crowd
from tests.support.browser import NOT_WEBDRIVER, USER_AGENT
from tests.support.postgres import run_sync
from tests.support.server import Server

pytestmark = pytest.mark.e2e

CAP = 3
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Crowd</title></head>
<body><p>Call <a id="tel" href="tel:{target}">03-1234-0000</a></p>
<script async src="/dni.js" data-site="{site}"></script></body></html>
"""
ORIGINAL = "03-1234-0000"
HEADERS = {
    "user-agent": USER_AGENT,
    "accept-language": "ja,en;q=0.8",
    "content-type": "text/plain;charset=UTF-8",
    "origin": "https://shop.example",
}


async def _seed(url: str) -> dict[str, Any]:
    db = await open_database(url)
    try:
        return await seed_crowd(db)
    finally:
        await db.close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server over a fresh crowd site, the guard on (cap 3), serving a page of its own."""
    folder = tmp_path_factory.mktemp("guarded")
    pages = folder / "pages"
    pages.mkdir()
    (pages / "index.html").write_text(
        PAGE.format(target=CROWD_TARGET, site=CROWD_SITE), encoding="utf-8"
    )
    url = f"sqlite:///{folder / 'callpath.db'}"
    crowd = run_sync(_seed(url))
    env = {
        "CALLPATH_IP_RATE_PER_MINUTE": "30",
        "CALLPATH_IP_RATE_BURST": "20",
        "CALLPATH_IP_MAX_LIVE_SESSIONS": str(CAP),
        "CALLPATH_EXAMPLES_DIR": str(pages),
        # The test's clients stand in for a proxy on loopback that appends their address.
        "CALLPATH_TRUSTED_PROXIES": "127.0.0.1",
    }
    server = Server(url, env_extra=env).start()
    server.crowd = crowd  # type: ignore[attr-defined]
    yield server
    server.stop()


def _body(n: int) -> bytes:
    return orjson.dumps({"site": CROWD_SITE, "url": f"https://shop.example/lp?n={n}"})


async def _flood_and_people(base: str) -> tuple[list[Any], list[Any]]:
    limits = httpx.Limits(max_connections=24)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(16)

        async def post(n: int, forwarded: str) -> Any:
            async with gate:
                r = await client.post(
                    "/v1/session",
                    content=_body(n),
                    headers={**HEADERS, "x-forwarded-for": forwarded},
                )
            assert r.status_code == 200, r.text
            return r.json()

        # Half the flood claims a fresh address in front; the proxy (loopback, trusted)
        # appended the real one, which is what uvicorn takes.
        flood = [
            post(n, "203.0.113.77" if n % 2 else f"10.{n % 250}.{n // 250}.1, 203.0.113.77")
            for n in range(400)
        ]
        people = [post(1000 + i, f"198.51.100.{i + 1}") for i in range(20)]
        mixed = [x for pair in zip(flood[::20], people, strict=True) for x in pair]
        rest = [f for i, f in enumerate(flood) if i % 20]
        results = await asyncio.gather(*mixed, *rest)
    by_people = [r for i, r in enumerate(results[: len(mixed)]) if i % 2]
    by_flood = [r for i, r in enumerate(results[: len(mixed)]) if not i % 2]
    return by_flood + list(results[len(mixed) :]), by_people


def test_a_flood_through_the_proxy_holds_at_most_the_cap(guarded: Server) -> None:
    flood, people = run_sync(_flood_and_people(guarded.url))
    assert len(flood) == 400 and len(people) == 20
    assert all(len(p["swaps"]) == 1 for p in people), people
    assert len({p["swaps"][0]["number"] for p in people}) == 20
    assert sum(1 for f in flood if f["swaps"]) <= CAP
    assert all(set(f) == {"token", "swaps", "ttl", "heartbeat"} for f in flood)


def _drops(server: Server) -> dict[str, int]:
    """Drop counters by reason, read from the server's SQLite file."""
    path = server.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT reason, SUM(count) FROM ingest_counters GROUP BY reason")
        return {str(reason): int(n) for reason, n in rows}
    finally:
        conn.close()


def _session_statuses(page: Any) -> list[int]:
    seen: list[int] = []
    page.on("response", lambda r: seen.append(r.status) if r.url.endswith("/v1/session") else None)
    return seen


def _tel(page: Any) -> str:
    page.wait_for_load_state("networkidle")
    return str(page.text_content("#tel"))


def test_only_a_page_on_the_sites_hosts_gets_a_number(guarded: Server, browser: Any) -> None:
    crowd: dict[str, Any] = guarded.crowd  # type: ignore[attr-defined]
    numbers = {formats(n).national for n in crowd["numbers"]}
    context = browser.new_context()
    context.add_init_script(NOT_WEBDRIVER)
    try:
        page = context.new_page()
        page.goto(guarded.url + "/examples/")
        page.wait_for_function(f"document.querySelector('#tel').textContent !== '{ORIGINAL}'")
        assert _tel(page) in numbers
        # The same page and snippet on a host the site does not list: the original stays.
        before = _drops(guarded).get("origin_not_allowed", 0)
        other = context.new_page()
        seen = _session_statuses(other)
        other.goto(guarded.url.replace("127.0.0.1", "localhost") + "/examples/")
        assert _tel(other) == ORIGINAL
        assert seen == [200]  # answered normally, just without a number
        assert _drops(guarded)["origin_not_allowed"] == before + 1
    finally:
        context.close()


def test_a_browser_that_says_headless_keeps_the_original(guarded: Server, browser: Any) -> None:
    headless = USER_AGENT.replace("Chrome/", "HeadlessChrome/")
    context = browser.new_context(user_agent=headless)
    context.add_init_script(NOT_WEBDRIVER)
    try:
        page = context.new_page()
        seen = _session_statuses(page)
        before = _drops(guarded).get("bot", 0)
        page.goto(guarded.url + "/examples/")
        assert _tel(page) == ORIGINAL
        assert seen == [200]  # answered normally, just without a number
        assert _drops(guarded)["bot"] == before + 1
    finally:
        context.close()


def test_the_cap_is_the_configured_one(guarded: Server) -> None:
    """Three numbers for one address (the server's setting), not the default four."""
    got = []
    for n in range(CAP + 1):
        r = httpx.post(
            guarded.url + "/v1/session",
            content=_body(n),
            headers={**HEADERS, "x-forwarded-for": "192.0.2.200"},
        )
        assert r.status_code == 200
        got.append(bool(r.json()["swaps"]))
    assert got == [True] * CAP + [False]
    assert _drops(guarded)["lease_cap"] >= 1
