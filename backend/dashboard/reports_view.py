"""Reports page and the per-advertiser summary a portal operator bills on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import report_tables as call_tables
from attribution import reports
from attribution.csv_encoding import CSV_ENCODINGS, file_suffix
from backend.dashboard import charts, checklist, i18n, report_grids
from backend.dashboard.filters import read_filters
from backend.dashboard.logins import Viewer
from backend.dashboard.report_options import (
    advertiser_rows,
    build_tables,
    report_options,
    scope_args,
)
from backend.dashboard.web import db_of, page, render


@page()
async def reports_page(request: Request, viewer: Viewer) -> Response:
    """Sessions, calls and qualified calls by one to three dimensions, the two charts, the
    hour × weekday heat map and the answer rate per branch."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    t = i18n.translator(i18n.choose(request, viewer))
    opts = report_options(request)
    tables, totals = await build_tables(db, f, opts, t)
    assert totals is not None  # every table was asked
    scope = scope_args(f)
    days = await reports.calls_by_day(db, timezone=f.tz, dimension="channel", **scope)
    sources = await call_tables.calls_per_key(db, dimension="source", **scope)
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
        [(key or t("none"), n) for key, n in sources], title=t("reports.chart_sources")
    )
    return render(
        request,
        viewer,
        "reports.html",
        {
            "f": f,
            "tz": f.tz,
            "tables": tables,
            "totals": totals,
            "dimension": opts.dimensions[0],
            "levels": opts.levels(),
            "compare": opts.compare,
            "keep": opts.keep(),
            "sort": opts.sort,
            "descending": opts.descending,
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
async def export_table(request: Request, viewer: Viewer) -> Response:
    """One table of the reports page (``table``: report, heatmap, targets) as a CSV file,
    for the same filters; ``encoding=excel`` as the call log's downloads."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    q = request.query_params
    name = q.get("table", "report")
    encoding = q.get("encoding", "utf-8")
    if name not in report_grids.TABLES or encoding not in CSV_ENCODINGS:
        raise HTTPException(400, "Unknown table or encoding.")
    t = i18n.translator(i18n.choose(request, viewer))
    tables, _ = await build_tables(db, f, report_options(request), t, only=name)
    filename = f"callpath-{name}-{f.first.isoformat()}-{f.last.isoformat()}"
    content, charset = report_grids.csv_bytes(tables[name], encoding)
    return Response(
        content,
        media_type=f"text/csv; charset={charset}",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}{file_suffix(encoding)}.csv"'
        },
    )


@page()
async def advertisers_page(request: Request, viewer: Viewer) -> Response:
    """Calls, answered, qualified and first-time callers per advertiser (billing counts)."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    rows = await advertiser_rows(db, f)
    return render(request, viewer, "advertisers.html", {"f": f, "tz": f.tz, "rows": rows})
