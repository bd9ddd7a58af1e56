"""Fixtures the whole suite shares.

- ``settings`` / ``app`` / ``client`` / ``db``: the app in-process over a fresh SQLite file,
  driven with ``httpx.AsyncClient(transport=ASGITransport(app))``.
- ``demo``: the demo advertiser, site and pools seeded into that database.
- ``live_server``: a real ``callpath serve`` (uvicorn) on a free loopback port, seeded with
  the demo, shared by the end-to-end tests of a session.
- ``browser`` / ``page``: Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from backend import create_app
from backend.demo import seed_demo
from backend.settings import Settings
from backend.storage import SQLiteDatabase
from tests.support.browser import BROWSER_HEADERS, CHROMIUM, CHROMIUM_ARGS
from tests.support.server import Server, run_cli

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
GUARD_OFF: dict[str, Any] = {"ip_rate_per_minute": 0, "ip_max_live_sessions": 0}
GUARD_OFF_ENV = {"CALLPATH_" + k.upper(): str(v) for k, v in GUARD_OFF.items()}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'callpath.db'}",
        secret_key="test-secret",
        log_level="warning",
        # Every in-process request comes from 127.0.0.1: the per-address flood guard is
        # off here and on in tests/hardening, which exercise it.
        **GUARD_OFF,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def db(app: Starlette) -> SQLiteDatabase:
    database: SQLiteDatabase = app.state.db
    return database


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    # A browser's headers by default: a bare httpx request is dropped as a script.
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=BROWSER_HEADERS
    ) as c:
        yield c


@pytest.fixture
async def demo(db: SQLiteDatabase, settings: Settings) -> dict[str, Any]:
    return await seed_demo(db, settings)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'callpath.db'}"
    seeded = run_cli("demo", "--json", database_url=url)
    assert seeded.returncode == 0, seeded.stderr
    # Every browser test arrives from 127.0.0.1, so the per-address guard is off here.
    server = Server(url, env_extra=GUARD_OFF_ENV).start()
    server.demo = orjson.loads(seeded.stdout)  # type: ignore[attr-defined]
    yield server
    server.stop()


# Per module, not per session: while the sync Playwright driver is open its event loop
# counts as running in this thread, and every async test after it would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def artifacts() -> Path:
    """Folder for screenshots and other files tests leave for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
