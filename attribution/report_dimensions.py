"""Reports past one dimension: a breakdown by two or three dimensions with subtotals,
filters on a dimension's value, and the comparison with the previous period.

A breakdown (``("campaign", "ad_group", "keyword")``) is read with the same three queries as
``attribution.reports.calls_report`` (sessions, calls and converted sessions, each grouped by
every dimension at once) and folded into a tree in Python: each level's row holds the sum of
its children, so a subtotal is exactly the rows under it, and the first level's rows are the
one-dimension report's rows. Calls read the touch frozen on the call (the device: the
matched session's), sessions their own columns, as in the one-dimension report.

A keyword by source and match type keeps a Google click and a Yahoo! click of the same words
in rows of their own (issue #23), under the keyword's subtotal.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

from attribution import rollups
from attribution.exports import NO_SESSION_SQL
from attribution.reports import (
    DIMENSIONS,
    _call_dimension,
    _no_session_row,
    _rate,
    _scope,
    converted_from,
)
from attribution.sources import landing_page
from pool.scope import Scope
from pool.store import Store

# At most this many dimensions at once (campaign × ad group × keyword).
MAX_LEVELS = 3
# The counted columns of a row (the conversion rate is derived from them).
COUNTS = ("sessions", "calls", "qualified_calls", "first_time_callers")
# Dimensions a report may be filtered on by value (the API's ``source=`` and ``campaign=``).
FILTERABLE = ("source", "campaign")
FILTER_VALUE_MAX = 500


def check_dimensions(dimensions: Iterable[str]) -> tuple[str, ...]:
    """The dimensions of a breakdown, checked: 1 to :data:`MAX_LEVELS` distinct names of
    ``attribution.reports.DIMENSIONS`` (ValueError otherwise)."""
    dims = tuple(dimensions)
    if not 1 <= len(dims) <= MAX_LEVELS or len(set(dims)) != len(dims):
        raise ValueError(f"a breakdown has 1 to {MAX_LEVELS} distinct dimensions")
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimensions {unknown!r}")
    return dims


def _filter_clause(
    alias: str, filters: Mapping[str, str], *, calls: bool
) -> tuple[str, dict[str, Any]]:
    """`` AND <column> = :value ...`` for ``filters`` ({dimension: value}); a call's value is
    its frozen touch, a session's its own column. ValueError for other dimensions."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, (dimension, value) in enumerate(sorted(filters.items())):
        if dimension not in FILTERABLE or len(value) > FILTER_VALUE_MAX:
            raise ValueError(f"cannot filter on {dimension!r}")
        column = _call_dimension(dimension)[0] if calls else f"{alias}.{dimension}"
        parts.append(f" AND COALESCE({column}, '') = :flt{i}")
        params[f"flt{i}"] = value
    return "".join(parts), params


_ZERO: dict[str, Any] = {**dict.fromkeys(COUNTS, 0), "conversion_rate": 0.0}


def _empty_row(key: str) -> dict[str, Any]:
    return {"key": key, **_ZERO, "children": []}


async def breakdown(
    db: Store,
    *,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    dimensions: Iterable[str],
    confidences: tuple[str, ...] | None = None,
    filters: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the first dimension, each with ``children`` rows of the next, and so on.

    Every row has ``key, sessions, calls, qualified_calls, first_time_callers,
    conversion_rate, children``; a row's counts are the sums of its children's (leaves have
    ``children == []``). Rows are sorted at every level by calls then sessions, descending.
    ``filters``: {dimension of :data:`FILTERABLE`: value} (an empty value: none set).
    """
    dims = check_dimensions(dimensions)
    columns = [DIMENSIONS[d] for d in dims]
    s_where, s_params = _scope("s", advertiser_id, site_id)
    c_where, c_params = _scope("c", advertiser_id, site_id, confidences)
    s_filter, sf_params = _filter_clause("s", filters or {}, calls=False)
    c_filter, cf_params = _filter_clause("c", filters or {}, calls=True)
    call_keys: list[str] = []
    joins: set[str] = set()
    for column in columns:
        expr, join = _call_dimension(column)
        call_keys.append(expr)
        joins.add(join)
    # One join to the session at most (the device is the only column read through it).
    join = "".join(sorted(joins))
    s_keys = ", ".join(f"s.{c} AS k{i}" for i, c in enumerate(columns))
    s_group = ", ".join(f"s.{c}" for c in columns)
    c_keys = ", ".join(f"{e} AS k{i}" for i, e in enumerate(call_keys))
    c_group = ", ".join(call_keys)
    span = {"a": start_ms, "b": end_ms}
    # Converted sessions are grouped and filtered as the sessions are, by their own columns
    # (so a row's rate is a share of its own sessions); calls by the touch frozen on them.
    # The calls without a web session are one row of their own at the first level (no
    # session: no value of any dimension), as in the one-dimension report; a filter on a
    # touch's value leaves them out (they have none).
    sessionless = (
        _no_session_row(db, c_where, {**c_params, **span})
        if not c_filter
        else asyncio.sleep(0, result=None)
    )
    sessions, calls, converted, alone = await asyncio.gather(
        rollups.session_counts(
            db,
            scope=Scope.of(advertiser_id, site_id),
            start_ms=start_ms,
            end_ms=end_ms,
            columns=columns,
            filters={DIMENSIONS[d]: v for d, v in (filters or {}).items()},
            raw_where=(s_where, s_params),
        ),
        db.fetchall(
            f"SELECT {c_keys}, COUNT(*) AS n, SUM(c.qualified) AS q, SUM(c.first_time) AS f"
            f" FROM calls c{join}"
            f" WHERE {c_where} AND c.started_ms >= :a AND c.started_ms < :b{c_filter}"
            f" AND NOT {NO_SESSION_SQL} GROUP BY {c_group}",
            {**c_params, **cf_params, **span},
        ),
        db.fetchall(
            f"SELECT {s_keys}, COUNT(*) AS n {converted_from(c_where, s_where)}{s_filter}"
            f" GROUP BY {s_group}",
            {**c_params, **s_params, **sf_params, **span},
        ),
        sessionless,
    )
    # The collector is paused while the rows are made: the tens of thousands a portal's
    # report makes (none in a cycle) would set it off several times for nothing (a fifth
    # of the folding time, measured).
    paused = gc.isenabled()
    gc.disable()
    try:
        top = fold(dims, sessions, calls, converted)
    finally:
        if paused:
            gc.enable()
    if alone is not None:
        top.append({**alone, "children": []})
    return top


def fold(
    dims: tuple[str, ...],
    sessions: Iterable[tuple[tuple[str, ...], int]],
    calls: Iterable[Mapping[str, Any]],
    converted: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """:func:`breakdown`'s rows from its three reads: sessions ``(keys, n)``, calls and
    converted sessions (rows with keys ``k0``.., ``n`` and for calls ``q``, ``f``)."""
    # Folded in two passes: each query's rows summed per full path of keys first (several
    # raw keys may merge into one: landing pages, NULL and ''), then each path's counts
    # added to its ancestors' in a tree, whose rows are made already sorted (a portal's
    # keyword × source × match type report has tens of thousands of paths).
    names = [f"k{i}" for i in range(len(dims))]
    pages = [d == "landing_page" for d in dims]
    merge = any(pages)

    def merged(keys: tuple[str, ...]) -> tuple[str, ...]:
        if merge:
            return tuple(landing_page(k) if p else k for k, p in zip(keys, pages, strict=True))
        return keys

    def path_of(raw: Mapping[str, Any]) -> tuple[str, ...]:
        keys = tuple(raw[n] for n in names)
        if None in keys:  # NULL and '' are one value
            keys = tuple(k or "" for k in keys)
        return merged(keys)

    # path -> [sessions, calls, qualified, first-time, converted sessions]
    leaves: dict[tuple[str, ...], list[int]] = {}

    def leaf(path: tuple[str, ...]) -> list[int]:
        found = leaves.get(path)
        if found is None:
            found = leaves[path] = [0, 0, 0, 0, 0]
        return found

    for keys, n in sessions:
        path = merged(keys) if merge else keys
        found = leaves.get(path)
        if found is None:
            leaves[path] = [n, 0, 0, 0, 0]
        else:
            found[0] += n
    for r in calls:
        counts = leaf(path_of(r))
        counts[1] += int(r["n"])
        counts[2] += int(r["q"] or 0)
        counts[3] += int(r["f"] or 0)
    for r in converted:
        leaf(path_of(r))[4] += int(r["n"])
    # One row per path, deepest level first: each row joins its parent's children (sorted
    # once all are in) and adds its counts to the parent's.
    level: dict[tuple[str, ...], list[int]] = leaves
    below: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for _ in dims:
        sums: dict[tuple[str, ...], list[int]] = {}
        children: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for path, (n, c, q, f, conv) in level.items():
            kids = below.get(path)
            if kids is None:
                kids = []
            elif len(kids) > 1:
                kids.sort(key=_by_calls)
            row = {
                "key": path[-1],
                "sessions": n,
                "calls": c,
                "qualified_calls": q,
                "first_time_callers": f,
                "conversion_rate": _rate(conv, n),
                "children": kids,
            }
            parent = path[:-1]
            total = sums.get(parent)
            if total is None:
                sums[parent] = [n, c, q, f, conv]
                children[parent] = [row]
            else:
                total[0] += n
                total[1] += c
                total[2] += q
                total[3] += f
                total[4] += conv
                children[parent].append(row)
        level, below = sums, children
    top = below.get((), [])
    top.sort(key=_by_calls)
    return top


def _by_calls(r: dict[str, Any]) -> tuple[int, int, str]:
    """Calls then sessions, descending (as :func:`sort_rows` by calls)."""
    return (-r["calls"], -r["sessions"], r["key"])


def sort_rows(rows: list[dict[str, Any]], column: str, *, descending: bool) -> None:
    """Sort rows in place at every level by ``column`` (ties: calls, sessions, key); the
    row of the calls without a web session stays last."""
    sign = -1 if descending else 1

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        value = r[column]
        first: Any = value if column == "key" else sign * value
        return (first, -r["calls"], -r["sessions"], r["key"])

    reverse = descending and column == "key"

    def sort(level: list[dict[str, Any]]) -> None:
        if len(level) > 1:
            level.sort(key=order, reverse=reverse)
        for r in level:
            if r.get("children"):
                sort(r["children"])

    sort(rows)
    if any("no_session" in r for r in rows):
        rows.sort(key=lambda r: bool(r.get("no_session")))  # stable: that row stays last


def count_rows(rows: list[dict[str, Any]]) -> int:
    """Rows at every level (what :func:`walk` yields)."""
    return len(rows) + sum(count_rows(r["children"]) for r in rows if r.get("children"))


def walk(
    rows: list[dict[str, Any]], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every row with the keys leading to it, a parent before its children."""
    for r in rows:
        here = (*path, r["key"])
        yield here, r
        yield from walk(r.get("children") or [], here)


def previous_days(first: date, last: date) -> tuple[date, date]:
    """The period of the same number of days just before ``first``..``last``."""
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)


def change(current: float, previous: float) -> tuple[float, float | None]:
    """The difference and the relative change (None when the previous value is 0)."""
    diff = current - previous
    return diff, (round(diff / previous, 4) if previous else None)


def with_previous(
    current: list[dict[str, Any]], previous: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``current`` with each row's ``previous`` counts ({column: n}) from the matching row
    of ``previous`` (same keys at every level; zeros when it had none). A row only in the
    previous period is added with zero counts now, so the previous column adds up to the
    previous period's total. Rows of a one-dimension report (no ``children``) work too.
    """
    before = {path: row for path, row in walk(previous)}
    seen: set[tuple[str, ...]] = set()
    for path, row in walk(current):
        seen.add(path)
        old = before.get(path)
        row["previous"] = {c: (old[c] if old else 0) for c in (*COUNTS, "conversion_rate")}
    # Rows that had something before and nothing now: placed under their parent (made too).
    index = {path: row for path, row in walk(current)}
    for path, old in before.items():
        if path in seen:
            continue
        row = {**_empty_row(path[-1]), "children": []}
        if "children" not in old:
            row.pop("children")
        row["previous"] = {c: old[c] for c in (*COUNTS, "conversion_rate")}
        siblings = current if len(path) == 1 else index[path[:-1]]["children"]
        siblings.append(row)
        index[path] = row
        seen.add(path)
    return current
