"""Every dashboard page, listed from the dashboard's route table, and a real server to show
them: shared by the browser tests (width at 390 px, axe-core) and ``make screenshots``.

The list is generated, not written by hand: a new GET route under ``/dashboard`` is a new
page to check unless it is named below as something that is not a page (a stream, a
download). A route with an ``{id}`` needs an object of the seeded data; one that has none
here makes :func:`dashboard_pages` raise, so it cannot be skipped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson
from starlette.routing import Route

from backend.dashboard.routes import routes as dashboard_routes
from backend.storage import open_database, sqlite_path
from tests.conftest import GUARD_OFF_ENV
from tests.dashboard.seed import KEYWORD_A, PASSWORD, Seeded, seed, seed_history
from tests.support.server import Server, run_cli
from tests.support.speech import two_party_wav

# What the seeded call's recording says (caller, business).
SPOKEN_CALL = ("Hello, I would like an appointment.", "We can see you tomorrow morning.")

# The viewports the browser tests use: a phone (the narrowest the dashboard must fit) and a
# desktop.
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}

# GET routes under /dashboard that answer something other than a page, and why.
NOT_PAGES = {
    "/dashboard/live/stream": "an event stream",
    "/dashboard/calls/export": "a CSV / NDJSON download",
    "/dashboard/reports/export": "a CSV download of one report table",
    "/dashboard/reservations/export": "a CSV download",
    "/dashboard/conversions/batches/{id:int}/file": "a file download",
    "/dashboard/{rest:path}": "the catch-all 404",
    "/dashboard/billing/statement.csv": "a CSV download",
}

# Which seeded object fills the {id} of a page's address.
IDS: dict[str, Callable[[Seeded], int]] = {
    "/dashboard/calls/{id:int}": lambda s: s.calls_a[0],
    "/dashboard/settings/sites/{id:int}": lambda s: s.site_a,
    "/dashboard/settings/targets/{id:int}/flow": lambda s: s.target_a,
    # A source's flow of the same number (empty: its forms to add steps).
    "/dashboard/settings/targets/{id:int}/flow/{which:str}": lambda s: s.target_a,
    "/dashboard/settings/sites/{id:int}/rules": lambda s: s.site_b,  # B has a source rule
    "/dashboard/settings/analysis/{id:int}": lambda s: s.adv_a,  # A has a transcript rule
}

# The same pages with the queries that make them longest (a drill-down, landing pages).
VARIANTS = (
    "/dashboard?by=landing_page",
    "/dashboard?by=keyword",
    "/dashboard?by=campaign&by2=ad_group&by3=keyword&compare=1",
    "/dashboard/calls?by=keyword&value=" + quote(KEYWORD_A),
    # The call log with its own filters set and a search (older pages: a pager both ways).
    "/dashboard/calls?status=answered&qualified=yes&source=google&q=" + quote(KEYWORD_A[:4]),
    "/dashboard/calls?q=nothing-matches-this",
    "/dashboard/calls?said=appointment",  # what was said (the seeded call's transcript)
)


def page_routes() -> list[str]:
    """The paths of the dashboard's GET routes that render a page, in route-table order."""
    paths: list[str] = []
    for route in dashboard_routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or set()):
            continue
        if not route.path.startswith("/dashboard") or route.path in NOT_PAGES:
            continue
        if route.path not in paths:
            paths.append(route.path)
    return paths


def dashboard_pages(seeded: Seeded, *, variants: bool = True) -> list[str]:
    """Addresses of every dashboard page, ids replaced by seeded objects."""
    pages = []
    for path in page_routes():
        if "{" in path:
            if path not in IDS:
                raise KeyError(f"no seeded object for the page {path}: add one to IDS")
            path = path.replace("{id:int}", str(IDS[path](seeded)))
            path = path.replace("{which:str}", "s-" + "チラシ".encode().hex())
        pages.append(path)
    return pages + (list(VARIANTS) if variants else [])


def slug(path: str) -> str:
    """A file name for a page's address: /dashboard/calls/3 → dashboard-calls-3."""
    name = "".join(c if c.isalnum() else "-" for c in unquote(path).strip("/"))
    return "-".join(part for part in name.split("-") if part)[:80] or "root"


async def _seed_file(url: str) -> Seeded:
    db = await open_database(url)
    try:
        data = await seed(db)
        await seed_history(db, data)
    finally:
        await db.close()
    data.path = sqlite_path(url)
    return data


def start_dashboard_server(folder: Path, **env: str) -> Server:
    """``callpath serve`` over a new SQLite file in ``folder``: the demo, the seeded
    advertisers and 30 days of history. ``server.demo`` and ``server.seeded`` say what."""
    url = f"sqlite:///{folder / 'callpath.db'}"
    demo = run_cli("demo", "--json", database_url=url)
    if demo.returncode != 0:
        raise RuntimeError(demo.stderr)
    # Playwright's sync API may run an event loop in this thread: seed from another one.
    with ThreadPoolExecutor(1) as pool:
        data = pool.submit(asyncio.run, _seed_file(url)).result()
    # The seeded recording's file, spoken, where the server keeps recordings.
    recordings = folder / "recordings"
    wav = recordings / f"calls/{data.calls_a[0]}/RE1.wav"
    wav.parent.mkdir(parents=True)
    wav.write_bytes(two_party_wav(*SPOKEN_CALL))
    env = {"CALLPATH_RECORDING_DIR": str(recordings), **env}
    server = Server(url, env_extra={**GUARD_OFF_ENV, **env}).start()
    server.demo = orjson.loads(demo.stdout)  # type: ignore[attr-defined]
    server.seeded = data  # type: ignore[attr-defined]
    return server


def sign_in_context(browser: Any, server: Server, email: str, password: str, **options: Any) -> Any:
    """A new browser context signed in as ``email`` (the login form, as a person uses it)."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard**")
    page.close()
    return context


@contextmanager
def admin_page(
    browser: Any, server: Server, path: str, *, init_script: str = "", **options: Any
) -> Iterator[Any]:
    """A page at ``path``, in a new context signed in as the seeded administrator and closed
    afterwards. ``init_script`` runs before each page's own scripts; ``options`` go to
    ``browser.new_context``."""
    seeded: Seeded = server.seeded  # type: ignore[attr-defined]
    context = sign_in_context(browser, server, seeded.admin, PASSWORD, **options)
    try:
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.goto(server.url + path)
        yield page
    finally:
        context.close()
