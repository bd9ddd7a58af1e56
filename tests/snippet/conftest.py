"""Fixtures for the snippet's browser tests.

Each test module gets its own real ``callpath serve`` over its own SQLite file, seeded with a
site keyed ``demo`` (the key the example pages use) whose three targets have pools large
enough for every browser context of the module, and a heartbeat of one second. The server
serves ``examples/`` under ``/examples/`` and the test pages of ``tests/snippet/pages/``
under ``/examples/t/``. The pages are Jinja templates rendered once when the server is made:
most extend ``_page.html`` (the document's head and frame), and a page that differs from
another only by its tag or a script (``consent.html``) extends that one (``{% extends
"plain.html" %}``) and replaces that block, so what they show is written once.

Playwright sets ``navigator.webdriver`` to true, and the snippet rightly ignores such
visitors. The ``new_context`` fixture therefore adds an init script that makes it false, as
in a browser a person drives (``tests/support/browser.py`` already gives Chromium an
ordinary user agent). Tests about webdriver visitors open a context without it.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pytest

from backend.storage import open_database, seed
from pool.store import now_ms
from tests.conftest import GUARD_OFF_ENV
from tests.snippet.helpers import HEARTBEAT_SECONDS, SITE_KEY, TARGETS, TWILIO_AUTH_TOKEN
from tests.support.browser import NOT_WEBDRIVER
from tests.support.server import ROOT, Server

pytestmark = pytest.mark.e2e

PAGES = Path(__file__).resolve().parent / "pages"


async def seed_site(
    database_url: str, key: str, targets: list[tuple[str, list[str]]], per_visitor: str = ""
) -> None:
    """A site keyed ``key`` with these targets, each with a pool of its tracking numbers
    (also run while the module's server runs: SQLite in WAL mode lets both write).
    ``per_visitor``: a target number; the site gives one number per visitor, from that
    target's pool (its default target)."""
    pools = [seed.PoolSpec(target, tracking, label=target) for target, tracking in targets]
    domains = ["127.0.0.1", "localhost", "callpath.test", "a.callpath.test", "b.callpath.test"]
    site = seed.SiteSpec(key, name=f"Snippet test site {key}", domains=domains, pools=pools)
    db = await open_database(database_url)
    try:
        await seed.seed_site(db, f"Snippet tests {key}", site)
        if per_visitor:
            await db.execute(
                "UPDATE sites SET number_per_visitor = 1, default_target_id ="
                " (SELECT t.id FROM targets t WHERE t.site_id = sites.id AND t.number = :n)"
                " WHERE site_key = :k",
                {"n": per_visitor, "k": key},
            )
    finally:
        await db.close()


@dataclass
class SnippetServer:
    """The module's server, its database file and the pages it serves."""

    server: Server
    db_path: Path
    tracking: dict[str, list[str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def page_url(self, name: str) -> str:
        """Address of a test page (``formats.html``) or, with a leading slash, any path."""
        return self.url + (name if name.startswith("/") else "/examples/t/" + name)

    def sql(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run SQL on the server's database (WAL mode lets both sides work at once)."""
        with sqlite3.connect(self.db_path, timeout=10) as conn:
            rows = conn.execute(query, params or {}).fetchall()
        return rows

    def end_leases(self) -> None:
        """End every live lease, as if each visit's lease had been released."""
        self.sql("UPDATE leases SET ended_ms = :t WHERE ended_ms IS NULL", {"t": now_ms()})


def write_pages(folder: Path) -> None:
    """Render the test pages into ``folder`` (each exactly as a browser gets it)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES),
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )
    folder.mkdir(parents=True)
    for page in sorted(PAGES.glob("[!_]*.html")):  # _page.html is their frame, not a page
        (folder / page.name).write_text(env.get_template(page.name).render(), encoding="utf-8")


async def _seed(database_url: str) -> None:
    await seed_site(database_url, SITE_KEY, TARGETS)


def prepare_server(
    root: Path,
    seed_db: Callable[[str], Coroutine[Any, Any, None]] = _seed,
    tracking: dict[str, list[str]] | None = None,
) -> SnippetServer:
    """A module's server, not started yet, over a new SQLite file in ``root`` that
    ``seed_db(url)`` filled (default: the ``demo`` site); it serves ``examples/`` and the
    test pages under ``/examples/t/`` (its database may still be changed with
    :meth:`SnippetServer.sql` before it starts)."""
    site_dir = root / "site"
    shutil.copytree(ROOT / "examples", site_dir)
    write_pages(site_dir / "t")
    db_path = root / "callpath.db"
    url = f"sqlite:///{db_path}"
    # Playwright's sync API runs an event loop in this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed_db(url)).result()
    server = Server(
        url,
        env_extra={
            "CALLPATH_EXAMPLES_DIR": str(site_dir),
            "CALLPATH_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "CALLPATH_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            # Every browser test arrives from 127.0.0.1: the per-address guard is off.
            **GUARD_OFF_ENV,
        },
    )
    if tracking is None and seed_db is _seed:
        tracking = {t: list(n) for t, n in TARGETS}
    return SnippetServer(server, db_path, tracking or {})


@contextmanager
def serving_snippet(
    tmp_path_factory: pytest.TempPathFactory,
    name: str = "snippet",
    prepare: Callable[[SnippetServer], None] | None = None,
) -> Iterator[SnippetServer]:
    """A real server for a module's snippet tests, seeded with the ``demo`` site
    (:func:`prepare_server`); ``prepare`` may change the database before the server starts."""
    snippet = prepare_server(tmp_path_factory.mktemp(name))
    if prepare is not None:
        prepare(snippet)
    snippet.server.start()
    try:
        yield snippet
    finally:
        snippet.server.stop()


@pytest.fixture(scope="module")
def snippet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnippetServer]:
    with serving_snippet(tmp_path_factory) as snippet:
        yield snippet


@pytest.fixture(scope="module")
def browser_with_hosts(browser: Any) -> Iterator[Any]:
    """Chromium resolving ``*.callpath.test`` to this machine, for cross-subdomain tests."""
    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    other = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP *.callpath.test 127.0.0.1"],
    )
    yield other
    other.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open browser contexts like a person's browser (closed after the test)."""
    opened: list[Any] = []

    def make(*, webdriver: bool = False, **options: Any) -> Any:
        ctx = browser.new_context(**options)
        if not webdriver:
            ctx.add_init_script(NOT_WEBDRIVER)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@dataclass
class Watched:
    """A page with everything it logged and requested."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def calls(self, path: str) -> list[Any]:
        """Requests made to ``path`` (e.g. ``/v1/session``) so far."""
        return [r for r in self.requests if r.url.split("?")[0].endswith(path)]

    def script_errors(self) -> list[str]:
        """Errors a script caused. Chromium itself logs every failed request as a console
        error ("Failed to load resource"); no script can prevent that, so it is left out."""
        return [e for e in self.errors if "Failed to load resource" not in e]


@pytest.fixture
def watch() -> Callable[[Any], Watched]:
    def attach(page: Any) -> Watched:
        w = Watched(page)
        page.on("console", lambda m: m.type == "error" and w.errors.append(m.text))
        page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: w.requests.append(r))
        return w

    return attach


@pytest.fixture
def visit(
    new_context: Callable[..., Any], watch: Callable[[Any], Watched]
) -> Callable[..., Watched]:
    """A new context and page, watched, with nothing loaded yet."""

    def make(**options: Any) -> Watched:
        return watch(new_context(**options).new_page())

    return make
