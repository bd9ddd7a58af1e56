"""Report tables about the calls themselves: when they come (hour of day × weekday, in the
site's timezone) and whether each branch answers them (answer and missed rate per target).

Scope, range and the confidence filter are those of ``attribution.reports``, so these tables
add up to the same number of calls as the reports' totals and the call log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from attribution.reports import DIMENSIONS, _call_dimension, _scope
from pool.store import Store

_BUCKET_MS = 900_000  # a quarter hour: every timezone offset in use is a multiple of it
HOURS = 24
WEEKDAYS = 7  # Monday = 0, as datetime.weekday()

# A call the branch did not take: the forward's outcome (telephony.calls.OUTCOMES).
MISSED_STATUSES = ("no-answer", "busy", "failed")

# The branch a call went to: the business number (target) of the pool holding the tracking
# number the caller dialled, shown by its label or else its number (the call log's branch).
TARGET_LABEL_SQL = (
    "(SELECT COALESCE(NULLIF(tg.label, ''), tg.number) FROM tracking_numbers tn"
    " JOIN pools p ON p.id = tn.pool_id JOIN targets tg ON tg.id = p.target_id"
    " WHERE tn.id = c.number_id)"
)


async def calls_by_hour(
    db: Store,
    *,
    timezone: str,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    confidences: tuple[str, ...] | None = None,
) -> list[list[int]]:
    """Calls per local weekday (rows, Monday first) and hour of day (columns, 0–23).

    Counted in quarter-hour buckets in SQL and placed by the local time of each bucket in
    Python (``timezone``), so daylight-saving days and +05:45 offsets land right.
    """
    tz = ZoneInfo(timezone)
    where, params = _scope("c", advertiser_id, site_id, confidences)
    rows = await db.fetchall(
        f"SELECT c.started_ms / {_BUCKET_MS} AS b, COUNT(*) AS n FROM calls c"
        f" WHERE {where} AND c.started_ms >= :a AND c.started_ms < :b"
        f" GROUP BY c.started_ms / {_BUCKET_MS}",
        {**params, "a": start_ms, "b": end_ms},
    )
    grid = [[0] * HOURS for _ in range(WEEKDAYS)]
    for r in rows:
        local = datetime.fromtimestamp(int(r["b"]) * _BUCKET_MS / 1000, tz)
        grid[local.weekday()][local.hour] += int(r["n"])
    return grid


async def calls_per_key(
    db: Store,
    *,
    dimension: str,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    confidences: tuple[str, ...] | None = None,
) -> list[tuple[str, int]]:
    """(key, calls) of ``dimension`` with at least one call, most calls first: the calls
    column of ``attribution.reports.calls_report`` without reading a session (a chart of
    calls needs no visits; portal-wide that saves grouping every session of the range)."""
    column = DIMENSIONS.get(dimension)
    if column is None or dimension == "landing_page":
        raise ValueError(f"unknown dimension {dimension!r}")
    key, join = _call_dimension(column)
    where, params = _scope("c", advertiser_id, site_id, confidences)
    rows = await db.fetchall(
        f"SELECT {key} AS k, COUNT(*) AS n FROM calls c{join}"
        f" WHERE {where} AND c.started_ms >= :a AND c.started_ms < :b GROUP BY {key}",
        {**params, "a": start_ms, "b": end_ms},
    )
    counts: dict[str, int] = {}
    for r in rows:  # NULL and '' are one key, as in the reports
        k = str(r["k"] or "")
        counts[k] = counts.get(k, 0) + int(r["n"])
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _answer_rate(answered: int, calls: int) -> float:
    return round(answered / calls, 4) if calls else 0.0


async def answer_rates(
    db: Store,
    *,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    confidences: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Per target (branch): calls, answered, missed and the answer rate.

    Rows have keys ``key`` (the target's label or number; ``""`` for calls to a number no
    pool holds now), ``calls``, ``answered`` (someone picked up: ``answered_ms`` is set, as
    the reports' totals count it), ``missed`` (the forward's outcome was no answer, busy or
    failed) and ``answer_rate`` (answered over calls). Calls still ringing, or hung up by
    the caller before the forward ended, are neither. Most calls first.
    """
    where, params = _scope("c", advertiser_id, site_id, confidences)
    missed = ", ".join(f":m{i}" for i in range(len(MISSED_STATUSES)))
    params.update({f"m{i}": s for i, s in enumerate(MISSED_STATUSES)})
    rows = await db.fetchall(
        f"SELECT t.k, COUNT(*) AS n, SUM(t.ans) AS ans, SUM(t.missed) AS missed FROM ("
        f"SELECT {TARGET_LABEL_SQL} AS k,"
        " CASE WHEN c.answered_ms IS NULL THEN 0 ELSE 1 END AS ans,"
        f" CASE WHEN c.answered_ms IS NULL AND c.status IN ({missed}) THEN 1 ELSE 0 END"
        " AS missed FROM calls c"
        f" WHERE {where} AND c.started_ms >= :a AND c.started_ms < :b) t GROUP BY t.k",
        {**params, "a": start_ms, "b": end_ms},
    )
    out: list[dict[str, Any]] = []
    for r in rows:
        calls, answered = int(r["n"]), int(r["ans"] or 0)
        out.append(
            {
                "key": str(r["k"] or ""),
                "calls": calls,
                "answered": answered,
                "missed": int(r["missed"] or 0),
                "answer_rate": _answer_rate(answered, calls),
            }
        )
    out.sort(key=lambda r: (-r["calls"], r["key"]))
    return out
