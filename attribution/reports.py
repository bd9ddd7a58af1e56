"""Reports: sessions, calls and qualified calls by channel, source, campaign, keyword, ...

Every query here is portable SQL (SQLite and PostgreSQL): named parameters, integer epoch-ms
ranges, no date functions. Day buckets are made from quarter-hour buckets computed with
integer arithmetic in SQL and turned into local dates in Python with the site's timezone,
so daylight-saving changes and offsets like +05:45 land on the right day.

Scope: ``advertiser_id`` None means every advertiser (an administrator); ``site_id`` narrows
to one site. Calls are attributed to the touch frozen on the call when it was matched
(``calls.touch_*``, see ``attribution.touch``), never to a later touch of its session; the
device is the session's. Calls of a session whose touch has no value (and sessions
without a value) fall under the key ``""``. Visits (sessions) are counted by the sessions'
own columns.

Calls without a web session (a number not leased to anyone, a static number, a CDR import)
have a row of their own in every report (key ``""`` and ``no_session`` true, a field the
other rows do not have), so a report's calls add up to the call log's count for the same
scope and range. The scope is the tenant rule of :class:`pool.scope.Scope`: calls by
:meth:`~pool.scope.Scope.call_condition` (credited to the advertiser of the target called,
or made on a site the reader owns), sessions by :meth:`~pool.scope.Scope.session_condition`.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from attribution import rollups
from attribution.exports import NO_SESSION_SQL, confidence_clause
from attribution.sources import landing_page
from attribution.touch import TOUCH_FIELDS, touch_column
from pool.scope import Scope, scope_of
from pool.store import Store

# Report dimension -> sessions column. Fixed names only: never interpolate user input.
DIMENSIONS: dict[str, str] = {
    "channel": "channel",
    "source": "source",
    "campaign": "campaign",
    "ad_group": "ad_group",
    "keyword": "keyword",
    "match_type": "match_type",
    "landing_page": "landing_page",
    "device": "device",
}

# The columns of a report row, in the order pages and the API show them.
ROW_COLUMNS = (
    "key",
    "sessions",
    "calls",
    "qualified_calls",
    "first_time_callers",
    "conversion_rate",
)


def _call_dimension(column: str) -> tuple[str, str]:
    """The expression a call is grouped by for a sessions column, and the join it needs:
    the call's frozen touch for touch fields, the matched session for the rest (device)."""
    if column in TOUCH_FIELDS:
        return touch_column(column), ""
    return f"s.{column}", " LEFT JOIN sessions s ON s.id = c.session_id"


_BUCKET_MS = 900_000  # a quarter hour: every timezone offset in use is a multiple of it
DAY_MS = 86_400_000


def _scope(
    alias: str,
    advertiser_id: int | None,
    site_id: int | None,
    confidences: tuple[str, ...] | None = None,
) -> tuple[str, dict[str, Any]]:
    """A WHERE fragment limiting rows of ``alias`` (with a ``site_id`` column) to the scope,
    and calls to the ``confidences`` given."""
    parts: list[str] = []
    conf, params = confidence_clause(alias, confidences)
    if conf:
        parts.append(conf.removeprefix(" AND "))
    parts.append(_tenant(alias, Scope.of(advertiser_id, site_id), params))
    return " AND ".join(parts), params


def _tenant(alias: str, scope: Scope, params: dict[str, Any]) -> str:
    """The tenant condition of calls ``c`` or sessions ``s`` (parameters into ``params``).

    Every call of a scope of everything, those without a site too: the call log counts
    them, so the report does (``calls_started`` serves the range)."""
    if alias == "c":
        where, scope_params = scope.call_condition(alias)
    elif scope.is_everything:
        # Every site: an IN list lets the (site_id, started_ms) index serve each site.
        return f"{alias}.site_id IN (SELECT id FROM sites)"
    else:
        where, scope_params = scope.session_condition(alias)
    params.update(scope_params)
    return where


def _rate(calling_sessions: int, sessions: int) -> float:
    """The call conversion rate (電話CV率): sessions with a call over sessions, so never
    above 1 (calls over sessions reached 369 % when visitors called several times)."""
    return round(calling_sessions / sessions, 4) if sessions else 0.0


# A session counts as converted when it started in the range and one of its calls (within
# the report's confidence filter) did too: the numerator is a subset of the denominator.
# Read from the calls (a few thousand) to their sessions, never the other way round (a
# portal's range holds hundreds of thousands of sessions): the calls' distinct sessions
# first, then each one's row (``CROSS JOIN`` keeps that order on SQLite; an inner join).
def converted_from(c_where: str, s_where: str) -> str:
    """``FROM ... WHERE ...`` of the converted sessions ``s`` of the calls ``c`` in scope."""
    return (
        "FROM (SELECT DISTINCT c.session_id AS sid FROM calls c"
        f" WHERE {c_where} AND c.started_ms >= :a AND c.started_ms < :b) cs"
        f" CROSS JOIN sessions s WHERE s.id = cs.sid AND {s_where}"
        " AND s.started_ms >= :a AND s.started_ms < :b"
    )


async def calls_report(
    db: Store,
    *,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    dimension: str,
    confidences: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Sessions, calls, qualified calls, first-time callers and conversion rate per key.

    Rows have keys ``key, sessions, calls, qualified_calls, first_time_callers,
    conversion_rate`` (sessions with a call over sessions), sorted by calls then sessions,
    descending.
    ``dimension`` is one of :data:`DIMENSIONS`; the range is ``[start_ms, end_ms)``.
    ``confidences``: count only calls matched with one of these (None: every call).
    """
    column = DIMENSIONS.get(dimension)
    if column is None:
        raise ValueError(f"unknown dimension {dimension!r}")
    s_where, s_params = _scope("s", advertiser_id, site_id)
    c_where, c_params = _scope("c", advertiser_id, site_id, confidences)
    call_key, join = _call_dimension(column)
    # Independent reads: run them at once (the SQLite store has several readers).
    sessions, calls, converted, sessionless = await asyncio.gather(
        rollups.session_counts(
            db,
            scope=Scope.of(advertiser_id, site_id),
            start_ms=start_ms,
            end_ms=end_ms,
            columns=(column,),
            raw_where=(s_where, s_params),
        ),
        db.fetchall(
            f"SELECT {call_key} AS k, COUNT(*) AS n, SUM(c.qualified) AS q,"
            f" SUM(c.first_time) AS f FROM calls c{join}"
            f" WHERE {c_where} AND c.started_ms >= :a AND c.started_ms < :b"
            f" AND NOT {NO_SESSION_SQL} GROUP BY {call_key}",
            {**c_params, "a": start_ms, "b": end_ms},
        ),
        db.fetchall(
            f"SELECT s.{column} AS k, COUNT(*) AS n {converted_from(c_where, s_where)}"
            f" GROUP BY s.{column}",
            {**c_params, **s_params, "a": start_ms, "b": end_ms},
        ),
        _no_session_row(db, c_where, {**c_params, "a": start_ms, "b": end_ms}),
    )
    merge = landing_page if dimension == "landing_page" else None
    rows: dict[str, dict[str, Any]] = {}

    def row(raw: Any) -> dict[str, Any]:
        key = str(raw or "")
        if merge is not None:
            key = merge(key)
        found = rows.get(key)
        if found is None:
            found = rows[key] = {
                "key": key,
                "sessions": 0,
                "calls": 0,
                "qualified_calls": 0,
                "first_time_callers": 0,
                "conversion_rate": 0.0,
            }
        return found

    for (key,), n in sessions:
        row(key)["sessions"] += n
    for r in calls:
        target = row(r["k"])
        target["calls"] += int(r["n"])
        target["qualified_calls"] += int(r["q"] or 0)
        target["first_time_callers"] += int(r["f"] or 0)
    calling: Counter[str] = Counter()
    for r in converted:
        key = str(r["k"] or "")
        calling[merge(key) if merge is not None else key] += int(r["n"])
    out = list(rows.values())
    for r in out:
        r["conversion_rate"] = _rate(calling[r["key"]], r["sessions"])
    out.sort(key=lambda r: (-r["calls"], -r["sessions"], r["key"]))
    if sessionless is not None:
        out.append(sessionless)  # last: it is no value of the dimension
    return out


async def _no_session_row(db: Store, c_where: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The report row of the calls in scope and range without a web session (None when
    there are none): the same for every dimension, as no session means no value of any."""
    found = await db.fetchone(
        "SELECT COUNT(*) AS n, SUM(c.qualified) AS q, SUM(c.first_time) AS f FROM calls c"
        f" WHERE {c_where} AND c.started_ms >= :a AND c.started_ms < :b"
        f" AND {NO_SESSION_SQL}",
        params,
    )
    if found is None or not found["n"]:
        return None
    return {
        "key": "",
        "sessions": 0,
        "calls": int(found["n"]),
        "qualified_calls": int(found["q"] or 0),
        "first_time_callers": int(found["f"] or 0),
        "conversion_rate": 0.0,
        "no_session": True,
    }


@dataclass(frozen=True)
class Totals:
    """The headline numbers of a report."""

    sessions: int
    calls: int
    answered_calls: int
    qualified_calls: int
    first_time_callers: int
    conversion_rate: float


async def totals(
    db: Store,
    *,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    confidences: tuple[str, ...] | None = None,
) -> Totals:
    """Sessions, calls (all / answered / qualified / first-time) in the scope and range."""
    s_where, s_params = _scope("s", advertiser_id, site_id)
    c_where, c_params = _scope("c", advertiser_id, site_id, confidences)
    counted, row, calling = await asyncio.gather(
        rollups.session_counts(
            db,
            scope=Scope.of(advertiser_id, site_id),
            start_ms=start_ms,
            end_ms=end_ms,
            columns=(),
            raw_where=(s_where, s_params),
        ),
        db.fetchone(
            "SELECT COUNT(*) AS n,"
            " SUM(CASE WHEN c.answered_ms IS NULL THEN 0 ELSE 1 END) AS ans,"
            " SUM(c.qualified) AS q, SUM(c.first_time) AS f FROM calls c"
            f" WHERE {c_where} AND c.started_ms >= :a AND c.started_ms < :b",
            {**c_params, "a": start_ms, "b": end_ms},
        ),
        db.fetchval(
            f"SELECT COUNT(*) {converted_from(c_where, s_where)}",
            {**c_params, **s_params, "a": start_ms, "b": end_ms},
        ),
    )
    assert row is not None
    sessions = sum(n for _, n in counted)
    calls = int(row["n"] or 0)
    return Totals(
        int(sessions or 0),
        calls,
        int(row["ans"] or 0),
        int(row["q"] or 0),
        int(row["f"] or 0),
        _rate(int(calling or 0), int(sessions or 0)),
    )


async def calls_by_day(
    db: Store,
    *,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    timezone: str,
    dimension: str = "channel",
    confidences: tuple[str, ...] | None = None,
) -> dict[date, dict[str, int]]:
    """Calls per local day (in ``timezone``) and per key of ``dimension``.

    Every day of the range is present, even without calls, so a chart has no gaps.
    """
    column = DIMENSIONS.get(dimension)
    if column is None:
        raise ValueError(f"unknown dimension {dimension!r}")
    tz = ZoneInfo(timezone)
    c_where, c_params = _scope("c", advertiser_id, site_id, confidences)
    call_key, join = _call_dimension(column)
    rows = await db.fetchall(
        f"SELECT c.started_ms / {_BUCKET_MS} AS b, {call_key} AS k, COUNT(*) AS n"
        f" FROM calls c{join}"
        f" WHERE {c_where} AND c.started_ms >= :a AND c.started_ms < :b"
        f" GROUP BY c.started_ms / {_BUCKET_MS}, {call_key}",
        {**c_params, "a": start_ms, "b": end_ms},
    )
    out: dict[date, dict[str, int]] = {}
    day = _local_day(start_ms, tz)
    last = _local_day(max(start_ms, end_ms - 1), tz)
    while day <= last:
        out[day] = {}
        day = date.fromordinal(day.toordinal() + 1)
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days_of: dict[int, date] = {}  # a quarter hour's local day, once per quarter hour
    for r in rows:
        key = str(r["k"] or "")
        if dimension == "landing_page":
            key = landing_page(key)
        bucket = int(r["b"])
        local = days_of.get(bucket)
        if local is None:
            local = days_of[bucket] = _local_day(bucket * _BUCKET_MS, tz)
        per_day[local][key] += int(r["n"])
    for d, counts in per_day.items():
        out[d] = dict(counts)
    return out


def _local_day(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms / 1000, tz).date()


def local_day_range(first: date, last: date, timezone: str) -> tuple[int, int]:
    """Epoch-ms ``[start, end)`` covering local days ``first`` to ``last`` in ``timezone``."""
    tz = ZoneInfo(timezone)
    start = datetime(first.year, first.month, first.day, tzinfo=tz)
    after = date.fromordinal(last.toordinal() + 1)
    end = datetime(after.year, after.month, after.day, tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


async def advertiser_summary(
    db: Store,
    *,
    advertiser_id: int | None,
    start_ms: int,
    end_ms: int,
    confidences: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Per advertiser: calls, answered, qualified, first-time callers and talk minutes.

    What a portal operator bills on (pay per call / per qualified call); every advertiser in
    scope is listed, with zeros when it had no calls. ``confidences``: count only calls
    matched with one of these (None: every call).
    """
    where, scope_params = scope_of(advertiser_id).where_condition("a", advertiser="id", site=None)
    conf, params = confidence_clause("c", confidences)
    params.update({"a": start_ms, "b": end_ms, **scope_params})
    rows = await db.fetchall(
        "SELECT a.id, a.name, COUNT(c.id) AS calls,"
        " SUM(CASE WHEN c.answered_ms IS NULL THEN 0 ELSE 1 END) AS answered,"
        " SUM(c.qualified) AS qualified, SUM(c.first_time) AS first_time,"
        " SUM(c.talk_s) AS talk_s"
        " FROM advertisers a LEFT JOIN calls c ON c.advertiser_id = a.id"
        " AND c.started_ms >= :a AND c.started_ms < :b" + conf + where + " GROUP BY a.id, a.name"
        " ORDER BY a.name, a.id",
        params,
    )
    return [
        {
            "advertiser_id": int(r["id"]),
            "name": r["name"],
            "calls": int(r["calls"] or 0),
            "answered_calls": int(r["answered"] or 0),
            "qualified_calls": int(r["qualified"] or 0),
            "first_time_callers": int(r["first_time"] or 0),
            "talk_minutes": round(int(r["talk_s"] or 0) / 60, 1),
        }
        for r in rows
    ]
