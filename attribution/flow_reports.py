"""Call-flow reports (issue #18): how calls fared in their flows.

By ``menu_path`` (the menu choices callers made), by ``destination`` (each phone a ring or
queue step rang: how often it was rung, answered, missed) and by ``target`` (the business
number whose flow the call took): calls, answered, missed, the answer rate, how many
waited in a queue and their average wait. Only calls that went through a flow count
(``calls.flow_version`` set). Kept apart from :mod:`attribution.reports` (sessions and
sources), which it does not change.
"""

from __future__ import annotations

from typing import Any

from pool.scope import Scope
from pool.store import Store

DIMENSIONS = ("menu_path", "destination", "target")
ROW_COLUMNS = ("key", "calls", "answered", "missed", "answer_rate", "queued", "avg_queue_wait_s")
_MISSED = "('busy', 'no-answer', 'failed', 'canceled')"
# Per call: answered, missed, queued and the wait (SUM-able expressions over calls c).
_CALL_SUMS = (
    "COUNT(*) AS n,"
    " SUM(CASE WHEN c.status = 'answered' THEN 1 ELSE 0 END) AS answered,"
    f" SUM(CASE WHEN c.status IN {_MISSED} THEN 1 ELSE 0 END) AS missed,"
    " SUM(CASE WHEN c.queue_wait_s IS NULL THEN 0 ELSE 1 END) AS queued,"
    " SUM(COALESCE(c.queue_wait_s, 0)) AS waited"
)


def _where(advertiser_id: int | None, site_id: int | None) -> tuple[str, dict[str, Any]]:
    scope = Scope.of(advertiser_id, site_id)
    if scope.is_everything:
        return "c.site_id IN (SELECT id FROM sites)", {}
    return scope.condition("c", advertiser=None)


def _row(
    key: Any, calls: int, answered: int, missed: int, queued: int, waited: int
) -> dict[str, Any]:
    return {
        "key": str(key or ""),
        "calls": calls,
        "answered": answered,
        "missed": missed,
        "answer_rate": round(answered / calls, 4) if calls else 0.0,
        "queued": queued,
        "avg_queue_wait_s": round(waited / queued, 1) if queued else None,
    }


async def flow_report(
    db: Store,
    *,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int,
    end_ms: int,
    dimension: str,
    target: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of :data:`ROW_COLUMNS` per key of ``dimension``, most calls first.

    ``destination`` counts rings, not calls: ``calls`` is how often the phone rang,
    ``answered`` how often it answered, ``missed`` how often it was busy or did not
    answer, and the queue columns are those of the calls it answered. ``target``: only
    the calls to that business number.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    where, params = _where(advertiser_id, site_id)
    params = {**params, "a": start_ms, "b": end_ms}
    period = f"{where} AND c.started_ms >= :a AND c.started_ms < :b AND c.flow_version IS NOT NULL"
    if target is not None:
        period += " AND c.forwarded_to = :target"
        params["target"] = target
    if dimension == "destination":
        rows = await db.fetchall(
            "SELECT j.destination AS k,"
            " SUM(CASE WHEN j.what = 'ring' THEN 1 ELSE 0 END) AS n,"
            " SUM(CASE WHEN j.what = 'answered' THEN 1 ELSE 0 END) AS answered,"
            " SUM(CASE WHEN j.what IN ('busy', 'no-answer', 'failed') THEN 1 ELSE 0 END)"
            " AS missed,"
            " SUM(CASE WHEN j.what = 'answered' AND c.queue_wait_s IS NOT NULL THEN 1 ELSE 0"
            " END) AS queued,"
            " SUM(CASE WHEN j.what = 'answered' THEN COALESCE(c.queue_wait_s, 0) ELSE 0 END)"
            " AS waited"
            f" FROM call_journey j JOIN calls c ON c.id = j.call_id WHERE {period}"
            " AND j.destination <> '' GROUP BY j.destination",
            params,
        )
    else:
        column = "c.menu_path" if dimension == "menu_path" else "c.forwarded_to"
        rows = await db.fetchall(
            f"SELECT {column} AS k, {_CALL_SUMS} FROM calls c WHERE {period} GROUP BY {column}",
            params,
        )
    out = [
        _row(
            r["k"],
            int(r["n"] or 0),
            int(r["answered"] or 0),
            int(r["missed"] or 0),
            int(r["queued"] or 0),
            int(r["waited"] or 0),
        )
        for r in rows
    ]
    out.sort(key=lambda r: (-r["calls"], r["key"]))
    return out
