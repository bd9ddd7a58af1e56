"""What the reports page was asked for (dimensions, sort, comparison) and its tables, read
once for the page and for each table's CSV download so both show the same rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from attribution import report_dimensions, reports
from attribution import report_tables as call_tables
from attribution.reports import local_day_range
from backend.dashboard import report_grids
from backend.dashboard.filters import Filters
from backend.dashboard.report_grids import Table, Translate
from pool.store import Store

SORTABLE = reports.ROW_COLUMNS
# The query parameters of the second and third dimension.
LEVEL_PARAMS = ("by2", "by3")
# Rows of the report the page shows unless every row is asked (``rows=all``); the CSV
# download always has every row. A portal's keyword × source × match type report has about
# 29,000 rows: about 3 s of CPU to lay out and 10 MB of HTML, against 50 ms for 500 (the
# most Google Ads shows a page, docs/dashboard.md).
PAGE_ROWS = 500
# A keyword's report keeps Google and Yahoo! clicks (and match types) apart unless the
# viewer chooses otherwise (issue #23).
DEFAULT_BREAKDOWN = {"keyword": ("source", "match_type")}


@dataclass(frozen=True)
class ReportOptions:
    """The report's dimensions (1 to 3), its sort and whether to compare periods."""

    dimensions: tuple[str, ...]
    sort: str = "calls"
    descending: bool = True
    compare: bool = False
    all_rows: bool = False  # the page shows every row (not the first PAGE_ROWS)

    def levels(self) -> list[tuple[str, str]]:
        """(parameter, chosen dimension or '') of the second and third dimension."""
        chosen = [*self.dimensions[1:], "", ""]
        return [(name, chosen[i]) for i, name in enumerate(LEVEL_PARAMS)]

    def keep(self) -> dict[str, str]:
        """The query parameters that keep this report when the range changes."""
        out = {"by": self.dimensions[0], "sort": self.sort}
        out["dir"] = "desc" if self.descending else "asc"
        for name, chosen in self.levels():
            out[name] = chosen
        if self.compare:
            out["compare"] = "1"
        if self.all_rows:
            out["rows"] = "all"
        return out


def report_options(request: Request) -> ReportOptions:
    """The options in the query string (400 for an unknown dimension)."""
    q = request.query_params
    first = q.get("by", "keyword")
    if first not in reports.DIMENSIONS:
        raise HTTPException(400, "Unknown report dimension.")
    if LEVEL_PARAMS[0] in q:
        more = tuple(q.get(name, "") for name in LEVEL_PARAMS)
        more = more[:1] if not more[0] else more  # no third without a second
    else:
        more = DEFAULT_BREAKDOWN.get(first, ())
    try:
        # A dimension chosen twice (the first select changed to what a later one holds) is
        # kept once: the form stays usable without script.
        dims = report_dimensions.check_dimensions(dict.fromkeys((first, *(d for d in more if d))))
    except ValueError as exc:
        raise HTTPException(400, "Unknown or repeated report dimension.") from exc
    sort = q.get("sort", "calls")
    if sort not in SORTABLE:
        raise HTTPException(400, "Unknown sort column.")
    return ReportOptions(
        dims,
        sort,
        q.get("dir", "desc") != "asc",
        q.get("compare") == "1",
        q.get("rows") == "all",
    )


def scope_args(f: Filters, previous: bool = False) -> dict[str, Any]:
    """The scope, range and confidences of the filters (or of the period just before)."""
    start, end = f.start_ms, f.end_ms
    if previous:
        start, end = local_day_range(*report_dimensions.previous_days(f.first, f.last), f.tz)
    return {
        "advertiser_id": f.scope.advertiser_id,
        "site_id": f.scope.site_id,
        "start_ms": start,
        "end_ms": end,
        "confidences": f.confidences,
    }


async def _report_rows(db: Store, opts: ReportOptions, scope: dict[str, Any]) -> list[Any]:
    if len(opts.dimensions) == 1:
        return await reports.calls_report(db, dimension=opts.dimensions[0], **scope)
    return await report_dimensions.breakdown(db, dimensions=opts.dimensions, **scope)


def _drill(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The call log's drill-down parameters of a row: by/value, by2/value2, by3/value3."""
    out: dict[str, str] = {}
    for i, (by, value) in enumerate(pairs):
        suffix = str(i + 1) if i else ""
        out["by" + suffix], out["value" + suffix] = by, value
    return out


def _totals_row(totals: reports.Totals) -> dict[str, Any]:
    return {c: getattr(totals, c) for c in (*report_dimensions.COUNTS, "conversion_rate")}


async def advertiser_rows(db: Store, f: Filters) -> list[dict[str, Any]]:
    """The billing counts per advertiser of /dashboard/advertisers, for the filters."""
    return await reports.advertiser_summary(
        db,
        advertiser_id=f.scope.advertiser_id,
        start_ms=f.start_ms,
        end_ms=f.end_ms,
        confidences=f.confidences,
    )


async def build_tables(
    db: Store, f: Filters, opts: ReportOptions, t: Translate, only: str | None = None
) -> tuple[dict[str, Table], reports.Totals | None]:
    """The reports page's tables by name (only ``only`` when given: also ``advertisers``,
    the billing table of /dashboard/advertisers) and the period's totals (None when only
    another table was asked)."""
    scope = scope_args(f)
    tables: dict[str, Table] = {}
    if only == "advertisers":
        rows = await advertiser_rows(db, f)
        tables["advertisers"] = report_grids.advertisers_table(t, rows)
    totals = None
    if only in (None, "report"):
        totals = await reports.totals(db, **scope)
        rows = await _report_rows(db, opts, scope)
        foot = _totals_row(totals)
        if opts.compare:
            before = scope_args(f, previous=True)
            old_rows, old_totals = await asyncio.gather(
                _report_rows(db, opts, before), reports.totals(db, **before)
            )
            rows = report_dimensions.with_previous(rows, old_rows)
            foot["previous"] = _totals_row(old_totals)
        if opts.compare or (opts.sort, opts.descending) != ("calls", True):
            # (The reports come sorted by calls, descending: a portal's has 29,000 rows.)
            report_dimensions.sort_rows(rows, opts.sort, descending=opts.descending)
        tables["report"] = report_grids.report_table(
            t,
            dimensions=opts.dimensions,
            rows=rows,
            totals=foot,
            compare=opts.compare,
            drill_link=lambda pairs: "/dashboard/calls?" + f.query(drill=False, **_drill(pairs)),
            # The page shows the first rows; a download (only="report") has every row.
            limit=PAGE_ROWS if only is None and not opts.all_rows else None,
        )
    if only in (None, "heatmap"):
        grid = await call_tables.calls_by_hour(db, timezone=f.tz, **scope)
        tables["heatmap"] = report_grids.heatmap_table(t, grid)
    if only in (None, "targets"):
        rates = await call_tables.answer_rates(db, **scope)
        tables["targets"] = report_grids.targets_table(t, rates)
    return tables, totals
