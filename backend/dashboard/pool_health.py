"""Pool health for the dashboard: utilization, peak use, exhaustion, recommended size.

Computed from ``leases`` and ``tracking_numbers`` directly (the pool package's own health
functions were not on main when this was written). Peak use is the most numbers leased at
once over the last seven days, found by sweeping lease start and end times.
"""

from __future__ import annotations

import math
from typing import Any

from pool.store import Row, Store, now_ms

WEEK_MS = 7 * 86_400_000
HIGH = 0.8  # utilization from which a pool is flagged as nearly full
HEADROOM = 1.25  # recommended size: a quarter spare above the week's peak


async def _peak(db: Store, pool_id: int, now: int) -> int:
    rows = await db.fetchall(
        "SELECT started_ms, ended_ms, expires_ms FROM leases WHERE pool_id = :p"
        " AND overflow = 0 AND (ended_ms IS NULL OR ended_ms >= :since)",
        {"p": pool_id, "since": now - WEEK_MS},
    )
    edges: list[tuple[int, int]] = []
    for r in rows:
        end = r["ended_ms"] if r["ended_ms"] is not None else min(r["expires_ms"], now)
        edges.append((max(r["started_ms"], now - WEEK_MS), 1))
        edges.append((end, -1))
    edges.sort()
    peak = live = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


async def pool_health(db: Store, *, advertiser_id: int | None) -> list[dict[str, Any]]:
    """One row per pool in scope with size, in_use, utilization, peak, exhausted, alert."""
    now = now_ms()
    params: dict[str, Any] = {"now": now}
    where = ""
    if advertiser_id is not None:
        where = " WHERE s.advertiser_id = :adv"
        params["adv"] = advertiser_id
    pools: list[Row] = await db.fetchall(
        "SELECT p.id, p.name, p.ttl_ms, p.exhausted_count, p.overflow_number_id,"
        " s.name AS site_name, s.id AS site_id, t.number AS target,"
        " (SELECT COUNT(*) FROM tracking_numbers n WHERE n.pool_id = p.id AND n.kind = 'pool'"
        "   AND n.status = 'active') AS size,"
        " (SELECT COUNT(*) FROM leases l WHERE l.pool_id = p.id AND l.ended_ms IS NULL"
        "   AND l.overflow = 0 AND l.expires_ms > :now) AS in_use"
        " FROM pools p JOIN sites s ON s.id = p.site_id JOIN targets t ON t.id = p.target_id"
        + where
        + " ORDER BY s.name, p.name, p.id",
        params,
    )
    out = []
    for p in pools:
        size = int(p["size"])
        in_use = int(p["in_use"])
        peak = max(in_use, await _peak(db, p["id"], now))
        utilization = in_use / size if size else 1.0
        exhausted = int(p["exhausted_count"])
        ran_out = exhausted > 0 and peak >= size
        recommended = max(
            size if ran_out else 1, math.ceil(peak * HEADROOM) + (1 if ran_out else 0)
        )
        if ran_out:
            alert = "exhausted"
        elif utilization >= HIGH or (size and peak / size >= HIGH):
            alert = "high"
        else:
            alert = ""
        out.append(
            {
                **p,
                "size": size,
                "in_use": in_use,
                "utilization": utilization,
                "peak": peak,
                "exhausted": exhausted,
                "recommended": max(recommended, 1),
                "alert": alert,
            }
        )
    return out
