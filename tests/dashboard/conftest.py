"""Dashboard fixtures: seeded advertisers, logged-in clients, a server of our own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from backend.settings import Settings
from backend.storage import sqlite_path
from tests.dashboard.seed import Seeded, seed, seed_history
from tests.support.server import Server, run_cli

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Short live streams so in-process requests to the event stream end by themselves.
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'callpath.db'}",
        secret_key="test-secret",
        log_level="warning",
        dashboard_stream_seconds=1,
        dashboard_poll_ms=100,
    )


@pytest.fixture
async def seeded(demo: dict[str, Any], settings: Settings) -> Seeded:
    return seed(sqlite_path(settings.database_url))


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


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server over its own database: the demo plus the seeded advertisers."""
    path = tmp_path_factory.mktemp("dash") / "callpath.db"
    url = f"sqlite:///{path}"
    seeded_demo = run_cli("demo", "--json", database_url=url)
    assert seeded_demo.returncode == 0, seeded_demo.stderr
    data = seed(path)
    seed_history(data)
    server = Server(url, env_extra={"CALLPATH_DASHBOARD_POLL_MS": "200"}).start()
    server.demo = orjson.loads(seeded_demo.stdout)  # type: ignore[attr-defined]
    server.seeded = data  # type: ignore[attr-defined]
    yield server
    server.stop()
