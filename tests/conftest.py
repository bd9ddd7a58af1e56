"""Fixtures the whole suite shares.

- ``settings`` / ``app`` / ``client`` / ``db``: the app in-process over a fresh database,
  driven with ``httpx.AsyncClient(transport=ASGITransport(app))``. Every test that uses them
  runs once per store: a fresh SQLite file, and a fresh PostgreSQL database (created from
  template0, dropped afterwards; see ``tests/support/postgres.py``).
  ``CALLPATH_TEST_STORES=sqlite`` runs SQLite only (fast local runs); a test marked
  ``@pytest.mark.stores("sqlite")`` runs on the named stores only. Without a reachable
  PostgreSQL the PostgreSQL cases are skipped with the reason, or fail when ``CI=true``.
- ``demo``: the demo advertiser, site and pools seeded into that database.
- ``live_server``: a real ``callpath serve`` (uvicorn) on a free loopback port, seeded with
  the demo, shared by the end-to-end tests of a session.
- ``browser`` / ``page``: Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import os
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
from tests.support import postgres as pg
from tests.support.browser import BROWSER_HEADERS, CHROMIUM, CHROMIUM_ARGS
from tests.support.server import ROOT, Server, run_cli

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
GUARD_OFF: dict[str, Any] = {"ip_rate_per_minute": 0, "ip_max_live_sessions": 0}
GUARD_OFF_ENV = {"CALLPATH_" + k.upper(): str(v) for k, v in GUARD_OFF.items()}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stores(*names): run the store-parametrised test on these stores only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every test whose fixtures reach `store_kind` (through settings/app/db) runs per store.
    if "store_kind" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("stores")
        kinds = [k for k in pg.selected_stores() if marker is None or k in marker.args]
        metafunc.parametrize("store_kind", kinds)


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


@pytest.fixture(scope="session", autouse=True)
def _call_journals_in_a_temporary_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """The default call journal of a PostgreSQL database lives in ``$XDG_STATE_HOME``:
    the suite's (and its servers') go to a folder of the run, not the home directory."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the test PostgreSQL server; skip (fail in CI) when unreachable."""
    reason = pg.unreachable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason + " (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason + " (CALLPATH_TEST_STORES=sqlite to run SQLite only)")
    return pg.admin_url()


@pytest.fixture
def pg_database_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = pg.create_database()
    try:
        yield pg.database_url(name, pg_server, pool_max="5")
    finally:
        pg.drop_database(name)


@pytest.fixture
def database_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_kind == "postgresql":
        url: str = request.getfixturevalue("pg_database_url")
        return url
    return f"sqlite:///{tmp_path / 'callpath.db'}"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """The suite's settings over ``database_url``: a fixed secret, quiet logs, and these.

    A folder or module that needs other settings overrides the ``settings`` fixture with
    this and the fields it changes.
    """
    return Settings(
        database_url=database_url, secret_key="test-secret", log_level="warning", **overrides
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Every in-process request comes from 127.0.0.1: the per-address flood guard is
    # off here and on in tests/hardening, which exercise it.
    return make_settings(database_url, **GUARD_OFF)


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
def client_headers() -> dict[str, str]:
    """The headers ``client`` sends; a folder overrides this fixture to change them."""
    # A browser's headers by default: a bare httpx request is dropped as a script.
    return dict(BROWSER_HEADERS)


@pytest.fixture
async def client(
    app: Starlette, client_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=client_headers
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
    # The example pages are served when a folder is named (or under demo calls).
    examples = {"CALLPATH_EXAMPLES_DIR": str(ROOT / "examples")}
    server = Server(url, env_extra={**GUARD_OFF_ENV, **examples}).start()
    server.demo = orjson.loads(seeded.stdout)  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: sync Playwright runs an event loop on the main thread while
    # it is open, and pytest-asyncio cannot start its own loop beside it. Keeping browser
    # tests in their own (sync-only) modules and closing the browser after each module lets
    # async tests in later modules run.
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
