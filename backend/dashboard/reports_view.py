"""Reports page and the per-advertiser summary a portal operator bills on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import reports
from backend.dashboard import charts, checklist, i18n
from backend.dashboard.filters import read_filters
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, page, render

SORTABLE = reports.ROW_COLUMNS


@page()
async def reports_page(request: Request, viewer: Viewer) -> Response:
    """Sessions, calls and qualified calls by a dimension, with the two charts."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    q = request.query_params
    dimension = q.get("by", "keyword")
    if dimension not in reports.DIMENSIONS:
        raise HTTPException(400, "Unknown report dimension.")
    sort = q.get("sort", "calls")
    if sort not in SORTABLE:
        raise HTTPException(400, "Unknown sort column.")
    descending = q.get("dir", "desc") != "asc"
    scope = {
        "advertiser_id": f.scope.advertiser_id,
        "site_id": f.scope.site_id,
        "start_ms": f.start_ms,
        "end_ms": f.end_ms,
        "confidences": f.confidences,
    }
    rows = await reports.calls_report(db, dimension=dimension, **scope)
    rows.sort(key=lambda r: r[sort], reverse=descending)
    rows.sort(key=lambda r: bool(r.get("no_session")))  # stable: that row stays last
    totals = await reports.totals(db, **scope)
    days = await reports.calls_by_day(db, timezone=f.tz, dimension="channel", **scope)
    sources = await reports.calls_report(db, dimension="source", **scope)
    t = i18n.translator(i18n.choose(request, viewer))
    start = await checklist.steps(db, viewer)
    if all(step.done for step in start):
        start, ring = [], []  # set up: the checklist is gone
    else:
        ring = await checklist.callable_numbers(db, viewer) if viewer.is_admin else []
    per_channel: dict[str, int] = {}
    for counts in days.values():
        for key, n in counts.items():
            per_channel[key] = per_channel.get(key, 0) + n
    order = sorted(per_channel, key=lambda k: -per_channel[k])
    labels = {k: i18n.value_label(t, "channel", k) for k in order}
    day_chart = charts.stacked_days(days, order, labels, title=t("reports.chart_days"))
    source_chart = charts.horizontal_bars(
        [(_row_name(r, t), r["calls"]) for r in sources], title=t("reports.chart_sources")
    )
    return render(
        request,
        viewer,
        "reports.html",
        {
            "f": f,
            "tz": f.tz,
            "rows": rows,
            "totals": totals,
            "dimension": dimension,
            "sort": sort,
            "descending": descending,
            "day_chart": day_chart,
            "source_chart": source_chart,
            "has_calls": totals.calls > 0,
            "start": start,
            "ring_numbers": ring,
        },
    )


def _row_name(row: dict[str, Any], t: Callable[[str], str]) -> str:
    """A report row's name in a chart: its key, 'none', or the calls without a web session."""
    if row.get("no_session"):
        return t("reports.no_session")
    return str(row["key"]) or t("none")


@page()
async def advertisers_page(request: Request, viewer: Viewer) -> Response:
    """Calls, answered, qualified and first-time callers per advertiser (billing counts)."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    rows = await reports.advertiser_summary(
        db,
        advertiser_id=f.scope.advertiser_id,
        start_ms=f.start_ms,
        end_ms=f.end_ms,
        confidences=f.confidences,
    )
    return render(request, viewer, "advertisers.html", {"f": f, "tz": f.tz, "rows": rows})
