"""The getting-started checklist on the dashboard, and its "place a test call" button.

A new install is usable after six steps, each a page of the dashboard: an advertiser, a
site with the snippet tag, the business numbers shown on its pages, tracking numbers to
show instead, the tag seen at work on the site, and a call. The checklist shows what is
done (read from the records in the viewer's scope) until every step is, each step linking
to its page and saying what it is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, int_param, owned, page, redirect
from backend.routes.demo_calls import ring
from pool.store import Row, Store


@dataclass(frozen=True)
class Step:
    """One step: its message key (``start.<key>``, ``start.<key>_help``), whether it is
    done, the page that does it, and what was found (the tag's origin and time)."""

    key: str
    done: bool
    href: str
    seen_origin: str = ""
    seen_ms: int = 0


async def _any(db: Store, sql: str, viewer: Viewer, alias: str = "", **columns: Any) -> bool:
    """Whether the query finds a row in the viewer's scope (LIMIT 1: never a count of a
    large table on every page view); ``alias`` and ``columns`` as :meth:`Scope.condition`."""
    where, params = viewer.scope.and_condition(alias, **columns)
    return await db.fetchval(sql + where + " LIMIT 1", params) is not None


async def steps(db: Store, viewer: Viewer) -> list[Step]:
    """Every step of the checklist, for what the viewer may see."""
    advertisers = viewer.advertiser_id is not None or (
        await db.fetchval("SELECT 1 FROM advertisers LIMIT 1") is not None
    )
    where, params = viewer.scope.and_condition(site="id")
    site = await db.fetchone(
        "SELECT id FROM sites WHERE 1 = 1" + where + " ORDER BY id LIMIT 1", params
    )
    site_href = f"/dashboard/settings/sites/{site['id']}" if site else "/dashboard/settings/sites"
    targets = await _any(
        db,
        "SELECT 1 FROM targets t JOIN sites s ON s.id = t.site_id WHERE 1 = 1",
        viewer,
        "s",
        site="id",
    )
    numbers = await _any(
        db,
        "SELECT 1 FROM tracking_numbers WHERE status = 'active'",
        viewer,
    )
    where, params = viewer.scope.and_condition("s", site="id")
    seen = await db.fetchone(
        "SELECT h.site_id, h.origin, h.last_seen_ms FROM site_tag_hosts h"
        " JOIN sites s ON s.id = h.site_id WHERE 1 = 1"
        + where
        + " ORDER BY h.last_seen_ms DESC LIMIT 1",
        params,
    )
    calls = await _any(db, "SELECT 1 FROM calls WHERE 1 = 1", viewer)
    return [
        Step("advertiser", advertisers, "/dashboard/advertisers"),
        Step("site", site is not None, site_href),
        Step("targets", targets, site_href),
        Step("numbers", numbers, "/dashboard/settings/numbers"),
        Step(
            "tag",
            seen is not None,
            f"/dashboard/settings/sites/{seen['site_id']}" if seen else site_href,
            seen["origin"] if seen else "",
            int(seen["last_seen_ms"]) if seen else 0,
        ),
        Step("call", calls, "/dashboard/calls"),
    ]


async def callable_numbers(db: Store, viewer: Viewer) -> list[Row]:
    """Active tracking numbers the viewer may ring, the most recently leased first (the
    number a test page was just shown)."""
    where, params = viewer.scope.and_condition("n")
    return await db.fetchall(
        "SELECT n.id, n.number, COALESCE((SELECT MAX(l.started_ms) FROM leases l"
        " WHERE l.number_id = n.id), 0) AS leased_ms FROM tracking_numbers n"
        " WHERE n.status = 'active'" + where + " ORDER BY leased_ms DESC, n.id LIMIT 200",
        params,
    )


@page(admin=True)
async def test_call(request: Request, viewer: Viewer) -> Response:
    """Ring a tracking number as a made-up caller, through the real call path (the routing
    table answers, the recorder stores and matches the call, it ends by itself)."""
    number_id = int_param(request.state.form.get("number"), "number")
    if number_id is None:
        raise HTTPException(422, "Choose a tracking number.")
    number = await owned(db_of(request), viewer, "tracking_numbers", number_id)
    if number["status"] != "active":
        raise HTTPException(409, "This number is retired.")
    await ring(request.app.state.telephony, number["number"])
    return redirect("/dashboard/calls?test_call=1")
