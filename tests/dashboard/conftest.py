"""Dashboard fixtures: seeded advertisers, logged-in clients, a server of our own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.settings import Settings
from pool.store import Store
from tests.conftest import GUARD_OFF, make_settings
from tests.dashboard.seed import Seeded, seed
from tests.support.browser import BROWSER_HEADERS
from tests.support.dashboard_pages import start_dashboard_server
from tests.support.server import Server

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


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server over its own database: the demo plus the seeded advertisers."""
    server = start_dashboard_server(
        tmp_path_factory.mktemp("dash"), CALLPATH_DASHBOARD_POLL_MS="200"
    )
    yield server
    server.stop()


async def pool_of_new_site(
    client: httpx.AsyncClient, db: Store, csrf: str, *, advertiser: int, name: str, target: str
) -> int:
    """A new site of ``advertiser`` made through the settings pages, with the business number
    ``target`` as a person types it; the id of the pool the dashboard made for it."""
    made = await client.post(
        "/dashboard/settings/sites",
        data={"csrf": csrf, "advertiser": str(advertiser), "name": name, "domains": ""},
    )
    assert made.status_code == 303, made.text
    site_url = made.headers["location"]
    added = await client.post(site_url + "/targets", data={"csrf": csrf, "number": target})
    assert added.status_code == 303, added.text
    pool_id = await db.fetchval(
        "SELECT p.id FROM pools p JOIN targets t ON t.id = p.target_id WHERE t.site_id = :s",
        {"s": int(site_url.rstrip("/").rsplit("/", 1)[1])},
    )
    assert pool_id, site_url
    return int(pool_id)
