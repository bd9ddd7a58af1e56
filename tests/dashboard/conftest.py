"""Dashboard fixtures: seeded advertisers, logged-in clients, a server of our own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from backend.settings import Settings
from backend.storage import open_database, sqlite_path
from pool.store import Store
from tests.conftest import GUARD_OFF, GUARD_OFF_ENV, make_settings
from tests.dashboard.seed import Seeded, seed, seed_history
from tests.support.browser import BROWSER_HEADERS
from tests.support.server import Server, run_cli

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Short live streams so in-process requests to the event stream end by themselves.
    return make_settings(
        database_url,
        dashboard_stream_seconds=1,
        dashboard_poll_ms=100,
        **GUARD_OFF,
    )


@pytest.fixture
def client_headers() -> dict[str, str]:
    # A browser's headers, in English unless a test asks otherwise.
    return {**BROWSER_HEADERS, "Accept-Language": "en"}


@pytest.fixture
async def seeded(demo: dict[str, Any], db: Store) -> Seeded:
    return await seed(db)


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    """Sign in through the form; return the login session's CSRF token."""
    form = await client.get("/login")
    token = CSRF.search(form.text)
    assert token, form.text
    done = await client.post(
        "/login",
        data={"csrf": token.group(1), "email": email, "password": password, "next": "/dashboard"},
    )
    assert done.status_code == 303, done.text
    account = await client.get("/dashboard/account")
    assert account.status_code == 200
    found = CSRF.search(account.text)
    assert found
    return found.group(1)


async def _seed_file(url: str) -> Seeded:
    db = await open_database(url)
    try:
        data = await seed(db)
        await seed_history(db, data)
    finally:
        await db.close()
    data.path = sqlite_path(url)
    return data


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server over its own database: the demo plus the seeded advertisers."""
    path = tmp_path_factory.mktemp("dash") / "callpath.db"
    url = f"sqlite:///{path}"
    seeded_demo = run_cli("demo", "--json", database_url=url)
    assert seeded_demo.returncode == 0, seeded_demo.stderr
    data = asyncio.run(_seed_file(url))
    server = Server(url, env_extra={**GUARD_OFF_ENV, "CALLPATH_DASHBOARD_POLL_MS": "200"}).start()
    server.demo = orjson.loads(seeded_demo.stdout)  # type: ignore[attr-defined]
    server.seeded = data  # type: ignore[attr-defined]
    yield server
    server.stop()
