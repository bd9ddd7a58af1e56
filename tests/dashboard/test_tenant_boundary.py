"""The tenant boundary on every read, generated from the app's route table (issue #24).

Every ``GET`` route of the dashboard and of ``/api`` is requested by advertiser A (a signed-in
member, and a member's API token) with advertiser B's ids in its path parameters, and again
with B's advertiser and site named in the query string. No answer may carry anything of B:
it is a refusal (403/404, or 422 for a query that is not accepted) or a page without B's
data. Reads go through :class:`pool.scope.Scope`; a query that forgot it would show B's
rows here. The same walk as an administrator finds B's data, so the markers and ids are
the right ones and the test can fail.

A route whose path parameter has no B record below fails the test: a new route joins the
walk by saying which record its parameter names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from tests.dashboard.conftest import login
from tests.dashboard.seed import (
    CALLER_B,
    KEYWORD_B,
    PASSWORD,
    PORTAL_CALLER_B,
    PORTAL_KEYWORD_B,
    PORTAL_NUMBER_B,
    RESERVATION_B,
    Seeded,
    add_token,
    seed_portal,
)

# What of B must never reach A: names, numbers, keywords, URLs, click ids, batch names.
B_MARKERS = (
    "Rival",  # the advertiser, site and pool names
    KEYWORD_B,
    CALLER_B,
    CALLER_B[-4:] + "<",  # the caller's last digits as the dashboard ends a masked number
    "+815099990001",  # B's tracking number (E.164)
    "050-9999-0001",  # and as the dashboard shows it
    "rival.example.jp",
    "Cj0-rival",
    "rival-batch",
    "rival token",
    RESERVATION_B,  # B's reservation number
    "rival-medium",  # the medium of B's reserved call (KPIs)
)


def _b(attr: str) -> Callable[[Seeded, int], Any]:
    """B's record kept in ``Seeded.<attr>``."""
    return lambda s, _: getattr(s, attr)


# B's record for each path parameter, by name (API) or by the collection before it (the
# dashboard's ``{id}``).
_BY_NAME: dict[str, Callable[[Seeded, int], Any]] = {
    "call_id": lambda s, _: s.calls_b[0],
    "session_id": lambda _, session: session,
    **{
        f"{name}_id": _b(f"{name}_b")
        for name in ("site", "number", "pool", "rule", "token", "batch", "action", "feed")
    },
    "dispute_id": _b("dispute_b"),
    "target_id": _b("target_b"),
    "version": lambda _s, _: 1,
    "reservation_id": _b("reservation_b"),
    "platform": lambda _s, _: "google",
    "rest": lambda _s, _: "no/such/page",
    "which": lambda s, _: f"n-{s.number_b}",  # B's number's call flow
}
_BY_COLLECTION: dict[str, Callable[[Seeded, int], Any]] = {
    "calls": lambda s, _: s.calls_b[0],
    **{f"{name}s": _b(f"{name}_b") for name in ("site", "number", "pool", "rule", "token", "user")},
    "blocked": _b("blocked_b"),
    "notifications": _b("notify_b"),
    "batches": _b("batch_b"),
    "targets": _b("target_b"),
    "analysis": _b("adv_b"),  # an advertiser's call analysis settings
}
# GET routes that end the signed-in session: walked last, in a client of their own.
_SIGNS_OUT = {"/logout"}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Read:
    """One GET request of the walk."""

    route: str
    url: str


def _fill(path: str, seeded: Seeded, session_b: int) -> str:
    """The route's path with B's record in every parameter (KeyError: no case for it)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _BY_NAME:
            return str(_BY_NAME[name](seeded, session_b))
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        return str(_BY_COLLECTION[before](seeded, session_b))

    return _PARAM.sub(one, path)


def reads(app: Starlette, prefix: str, seeded: Seeded, session_b: int, query: str) -> list[Read]:
    """Every GET route of the app under ``prefix``, B's ids in the path, plain and with
    ``query`` (naming B's advertiser and site)."""
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        if not route.path.startswith(prefix) or route.path in _SIGNS_OUT:
            continue
        url = _fill(route.path, seeded, session_b)
        found += [Read(route.path, url), Read(route.path, f"{url}?{query}")]
    return found


def _leaks(response: httpx.Response, markers: tuple[str, ...] = B_MARKERS) -> list[str]:
    if response.status_code in (403, 404, 422):
        return []
    return [m for m in markers if m in response.text]


async def _session_of_b(db: Any, seeded: Seeded) -> int:
    return int(
        await db.fetchval("SELECT session_id FROM calls WHERE id = :c", {"c": seeded.calls_b[0]})
    )


def _queries(seeded: Seeded) -> tuple[str, str]:
    api = f"site_id={seeded.site_b}&advertiser_id={seeded.adv_b}&site=rival"
    dashboard = f"site={seeded.site_b}&advertiser={seeded.adv_b}"
    return api, dashboard


async def test_no_read_of_another_advertiser_reaches_a_member_or_its_token(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    session_b = await _session_of_b(db, seeded)
    api_query, dashboard_query = _queries(seeded)
    token = await add_token(db, seeded.member_a, advertiser_id=seeded.adv_a)
    bearer = {"Authorization": f"Bearer {token}"}
    api_reads = reads(app, "/api", seeded, session_b, api_query)
    dashboard_reads = reads(app, "/dashboard", seeded, session_b, dashboard_query)
    # The whole table is walked, both API styles included.
    walked = {r.route for r in api_reads + dashboard_reads}
    for expected in ("/api/calls/{call_id:int}", "/api/numbers/{number_id:int}", "/api/rules"):
        assert expected in walked
    assert "/dashboard/calls/{id:int}" in walked and "/dashboard/pools" in walked
    assert len(walked) > 30

    leaks: list[tuple[str, int, list[str]]] = []
    statuses: dict[int, int] = {}
    for read in api_reads:
        response = await client.get(read.url, headers=bearer)
        assert response.status_code < 500, (read.url, response.text)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if found := _leaks(response):
            leaks.append((read.url, response.status_code, found))
    await login(client, seeded.member_a, PASSWORD)
    for read in dashboard_reads:
        response = await client.get(read.url)
        assert response.status_code < 500, (read.url, response.text)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if found := _leaks(response):
            leaks.append((read.url, response.status_code, found))
    assert not leaks, leaks
    # A walks its own data on most routes: refusals are for B's ids and B's filters.
    assert statuses.get(200, 0) > 20, statuses
    assert statuses.get(404, 0) > 10, statuses


async def test_the_same_walk_as_an_administrator_finds_the_other_advertisers_data(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    # The control: with every advertiser in scope the same requests show B, on the API and
    # on the dashboard, through path ids and through the query filters alike.
    session_b = await _session_of_b(db, seeded)
    api_query, dashboard_query = _queries(seeded)
    token = await add_token(db, seeded.admin, advertiser_id=None, can_see_callers=True)
    bearer = {"Authorization": f"Bearer {token}"}
    showing: set[str] = set()
    for read in reads(app, "/api", seeded, session_b, api_query):
        response = await client.get(read.url, headers=bearer)
        if _leaks(response):
            showing.add(read.url)
    await login(client, seeded.admin, PASSWORD)
    for read in reads(app, "/dashboard", seeded, session_b, dashboard_query):
        response = await client.get(read.url)
        if _leaks(response):
            showing.add(read.url)
    must_show = {
        f"/api/calls/{seeded.calls_b[0]}",
        f"/api/sessions/{session_b}",
        f"/api/numbers/{seeded.number_b}",
        f"/api/pools/{seeded.pool_b}",
        f"/api/calls?{api_query}",
        f"/api/conversions/batches/{seeded.batch_b}",
        f"/api/pools?{api_query}",
        f"/dashboard/calls/{seeded.calls_b[0]}",
        f"/dashboard/calls?{dashboard_query}",
        "/dashboard/settings/numbers",
        "/dashboard/pools",
        # Billing (issue #20): B's statement, plan and dispute.
        f"/api/billing/statement?{api_query}",
        f"/api/billing/disputes?{api_query}",
        f"/api/billing/plans?{api_query}",
        f"/dashboard/billing/statement?{dashboard_query}",
        "/dashboard/billing/disputes",
        "/dashboard/billing/plans",
    }
    assert must_show <= showing, sorted(must_show - showing)


# What of B's must never reach A on the portal's shared site: B's call there, its caller,
# its visit's keyword and landing page, B's tracking number on the shared site.
SHARED_B_MARKERS = (
    PORTAL_KEYWORD_B,
    PORTAL_CALLER_B,
    PORTAL_CALLER_B[-4:] + "<",
    PORTAL_NUMBER_B,
    "050-7777-0002",
    "portal.example.jp/b",
)


async def _walk(
    app: Starlette,
    client: httpx.AsyncClient,
    seeded: Seeded,
    session: int,
    queries: tuple[str, str],
    bearer: dict[str, str],
    email: str,
) -> dict[str, list[str]]:
    """Every GET of the API (with ``bearer``) and of the dashboard (signed in as ``email``),
    B's shared-site ids in the path; what each answer shows of B's shared-site markers."""
    found: dict[str, list[str]] = {}
    for read in reads(app, "/api", seeded, session, queries[0]):
        response = await client.get(read.url, headers=bearer)
        assert response.status_code < 500, (read.url, response.text)
        if leaked := _leaks(response, SHARED_B_MARKERS):
            found[read.url] = leaked
    await login(client, email, PASSWORD)
    for read in reads(app, "/dashboard", seeded, session, queries[1]):
        response = await client.get(read.url)
        assert response.status_code < 500, (read.url, response.text)
        if leaked := _leaks(response, SHARED_B_MARKERS):
            found[read.url] = leaked
    return found


async def test_on_a_shared_site_key_no_read_of_bs_calls_reaches_a(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    # The portal's site (a third advertiser's) shows a number of A and one of B (issue #16).
    # A walks every route with B's call and visit there in the path and the shared site in
    # the query: A's own call there is A's to read, B's never.
    portal = await seed_portal(db, seeded)
    shared = replace(seeded, calls_b=[portal.call_b])
    queries = (f"site_id={portal.site}", f"site={portal.site}")
    token = await add_token(db, seeded.member_a, advertiser_id=seeded.adv_a)
    bearer = {"Authorization": f"Bearer {token}"}
    leaks = await _walk(app, client, shared, portal.session_b, queries, bearer, seeded.member_a)
    assert not leaks, leaks
    own = await client.get(f"/api/calls?site_id={portal.site}", headers=bearer)
    assert [c["id"] for c in own.json()["data"]] == [portal.call_a_no_session, portal.call_a]

    # The control: an administrator's same walk shows B's call and visit on the shared site.
    await client.post("/logout")
    admin_token = await add_token(db, seeded.admin, advertiser_id=None, can_see_callers=True)
    admin = {"Authorization": f"Bearer {admin_token}"}
    showing = await _walk(app, client, shared, portal.session_b, queries, admin, seeded.admin)
    must_show = {
        f"/api/calls/{portal.call_b}",
        f"/api/sessions/{portal.session_b}",
        f"/api/calls?{queries[0]}",
        f"/dashboard/calls/{portal.call_b}",
    }
    assert must_show <= set(showing), sorted(must_show - set(showing))
