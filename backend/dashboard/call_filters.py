"""The call log's own filters (status, qualified, source, tag, outcome, caller, search,
what was said in the call) and its pages, newer and older, with the count of calls that match.

The filters are :class:`attribution.call_search.CallQuery`; they combine with the filter bar
(:mod:`backend.dashboard.filters`: advertiser, site, dates, confidence, a report's
drill-down) through one :class:`~attribution.exports.ExportFilter`, so the log and its
"download these calls" link select the same calls.

Pages are cut by the last call shown (started time, then id), not by an offset: calls
that arrive while someone reads never shift a page or repeat a call, and going to newer
calls and back gives the same pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from attribution.call_search import TEXT_MAX, CallQuery, QueryError, parse_query
from attribution.exports import ExportFilter, where_clause
from backend.dashboard.filters import Filters
from backend.dashboard.i18n import N_, label
from backend.dashboard.logins import Viewer
from backend.dashboard.web import int_param
from pool.store import Row, Store

PAGE_SIZE = 50
# The query parameters of the call filters, as the log's form names them.
FIELDS = ("status", "qualified", "source", "tag", "outcome", "caller", "q", "said")
CHOICES_MAX = 200  # sources and tags offered in the filter's lists
# The fixed lists of the filter: (value, label's message id).
STATUS_CHOICES = (
    ("answered", N_("calls.state.answered")),
    ("missed", N_("calls.state.missed")),
    ("ongoing", N_("calls.state.ongoing")),
    ("blocked", N_("calls.state.blocked")),
)
QUALIFIED_CHOICES = (
    ("yes", N_("calls.qualified.yes")),
    ("no", N_("calls.qualified.no")),
    ("hand", N_("calls.qualified.hand")),
)


@dataclass(frozen=True)
class CallFilters:
    """The call filters asked for: checked (``query``) and as typed (``typed``)."""

    query: CallQuery
    typed: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        """The query-string parameters that reproduce these filters."""
        return {k: v for k, v in self.typed.items() if v}


def read_call_filters(request: Request, viewer: Viewer) -> CallFilters:
    """The call filters of the query string (400 for a value that cannot be used).

    A viewer who may not see callers cannot filter by caller (403), and their search
    looks at keywords and notes only: finding a call by its number would tell them who
    called. A viewer who may not hear recordings cannot search what was said (403): the
    transcript is theirs only with the recording.
    """
    q = request.query_params
    typed = {name: (q.get(name) or "").strip()[: TEXT_MAX * 2] for name in FIELDS}
    # Download links made before the filters said qualified=1 for "qualified only".
    typed["qualified"] = {"1": "yes", "0": "no"}.get(typed["qualified"], typed["qualified"])
    if typed["caller"] and not viewer.can_see_callers:
        raise HTTPException(403, "You may not see callers' numbers.")
    if typed["said"] and not viewer.can_hear_recordings:
        raise HTTPException(403, "You may not hear recordings or read their transcripts.")
    try:
        query = parse_query(
            status=typed["status"],
            qualified=typed["qualified"],
            source=typed["source"] or None,
            tag=typed["tag"],
            outcome=typed["outcome"],
            caller=typed["caller"],
            search=typed["q"],
            said=typed["said"],
        )
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from exc
    if not viewer.can_see_callers:
        query = query.without_numbers()
    return CallFilters(query, typed)


def export_filter(f: Filters, cf: CallFilters) -> ExportFilter:
    """The calls the log shows (and its download holds), as one export filter."""
    return ExportFilter(
        start_ms=f.start_ms,
        end_ms=f.end_ms,
        site_id=f.scope.site_id,
        advertiser_id=f.scope.advertiser_id,
        confidences=f.confidences,
        drill=f.drill,
        drill_more=f.drill_more,
        calls=cf.query,
    )


@dataclass(frozen=True)
class LogPage:
    """One page of the call log."""

    rows: list[Row]
    total: int  # calls matching the filters, on every page
    first: int  # position of the page's first call (1 = the newest)
    newer: str | None  # query string of the page of newer calls (None: this is the first)
    older: str | None  # query string of the page of older calls (None: this is the last)


def log_where(f: Filters, cf: CallFilters, dialect: str) -> tuple[str, dict[str, Any]]:
    """`` WHERE …`` on calls ``c`` for the log: the viewer's scope (as narrowed by the
    filter bar), the dates, confidence, drill-down and the call filters (``dialect``: the
    store's, for the transcript search)."""
    flt = ExportFilter(
        f.start_ms,
        f.end_ms,
        confidences=f.confidences,
        drill=f.drill,
        drill_more=f.drill_more,
        calls=cf.query,
    )
    where, params = where_clause(flt, dialect)
    scope, scope_params = f.scope.call_condition("c")
    return f"{where} AND {scope}", {**params, **scope_params}


_NEWER = "(c.started_ms > :kt OR (c.started_ms = :kt AND c.id > :kid))"
_OLDER = "(c.started_ms < :kt OR (c.started_ms = :kt AND c.id < :kid))"


async def log_page(
    request: Request,
    db: Store,
    select: str,
    where: str,
    params: dict[str, Any],
    link: Any,
) -> LogPage:
    """The page the query string asks for: calls older than ``bt``/``bid`` (the default,
    newest first) or newer than ``at``/``aid``; ``select`` is ``SELECT … FROM calls c …``.
    ``where`` and ``params`` are :func:`log_where`'s; ``link(**cursor)`` makes the query
    string of another page."""
    q = request.query_params
    before = (int_param(q.get("bt"), "bt"), int_param(q.get("bid"), "bid"))
    after = (int_param(q.get("at"), "at"), int_param(q.get("aid"), "aid"))
    newer_first = after[0] is not None and after[1] is not None
    cut = ""
    cursor: dict[str, Any] = {}
    if newer_first:
        cut, cursor = " AND " + _NEWER, {"kt": after[0], "kid": after[1]}
    elif before[0] is not None and before[1] is not None:
        cut, cursor = " AND " + _OLDER, {"kt": before[0], "kid": before[1]}
    order = "ASC" if newer_first else "DESC"
    rows = await db.fetchall(
        f"{select}{where}{cut} ORDER BY c.started_ms {order}, c.id {order} LIMIT {PAGE_SIZE + 1}",
        {**params, **cursor},
    )
    rows = rows[:PAGE_SIZE]
    if newer_first:
        rows.reverse()
    total = int(await db.fetchval(f"SELECT COUNT(*) FROM calls c{where}", params))
    if not rows:
        return LogPage([], total, 0, None, link() if cursor else None)

    async def count(side: str, row: Row) -> int:
        edge = {"kt": row["started_ms"], "kid": row["id"]}
        sql = f"SELECT COUNT(*) FROM calls c{where} AND {side}"
        return int(await db.fetchval(sql, {**params, **edge}))

    above = await count(_NEWER, rows[0])
    below = total - above - len(rows)
    newer = link(at=rows[0]["started_ms"], aid=rows[0]["id"]) if above else None
    older = link(bt=rows[-1]["started_ms"], bid=rows[-1]["id"]) if below > 0 else None
    return LogPage(rows, total, above + 1, newer, older)


async def filter_choices(
    db: Store, f: Filters, cf: CallFilters, t: Callable[[str], str]
) -> dict[str, list[tuple[str, str]]]:
    """What the filter's lists offer, as (value, words): the fixed states, the sources and
    tags of the calls the viewer may read in the date range (and the one asked, if it is
    not among them), and the outcome labels of their advertisers."""
    params: dict[str, Any] = {"a": f.start_ms, "b": f.end_ms}
    where, scope_params = f.scope.call_condition("c")
    params.update(scope_params)
    in_range = f"{where} AND c.started_ms >= :a AND c.started_ms < :b"
    sources = await db.fetchall(
        f"SELECT DISTINCT c.touch_source AS v FROM calls c WHERE {in_range}"
        f" AND c.touch_source <> '' ORDER BY v LIMIT {CHOICES_MAX}",
        params,
    )
    tags = await db.fetchall(
        "SELECT DISTINCT t.tag AS v FROM call_tags t JOIN calls c ON c.id = t.call_id"
        f" WHERE {in_range} ORDER BY v LIMIT {CHOICES_MAX}",
        params,
    )
    adv_where, adv_params = f.scope.condition("o", site=None)
    outcomes = await db.fetchall(
        f"SELECT o.label AS v, MIN(o.position) AS p FROM call_outcomes o WHERE {adv_where}"
        " AND o.retired_ms IS NULL GROUP BY o.label ORDER BY p, v",
        adv_params,
    )

    def listed(name: str, values: list[str]) -> list[tuple[str, str]]:
        asked = cf.typed.get(name, "")
        return [(v, v) for v in values + ([asked] if asked and asked not in values else [])]

    return {
        "status": [(v, t(msgid)) for v, msgid in STATUS_CHOICES],
        "qualified": [(v, t(msgid)) for v, msgid in QUALIFIED_CHOICES],
        "source": listed("source", [r["v"] for r in sources]),
        "tag": listed("tag", [r["v"] for r in tags]),
        # The built-in outcomes ("@won") in the viewer's words, the others as named.
        "outcome": [
            (r["v"], label(t, "outcome", r["v"][1:]) if r["v"].startswith("@") else r["v"])
            for r in outcomes
        ],
    }
