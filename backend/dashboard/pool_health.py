"""Pool health for the dashboard, from :mod:`pool.health`, for every pool in scope.

The figures (utilization now, peak utilization over the last 7 days, exhaustions, recommended
size by Little's law times ``CALLPATH_POOL_SAFETY_FACTOR``, alert above
``CALLPATH_POOL_ALERT_UTILIZATION`` peak) are the pool package's, read with the same settings as
the API and ``callpath pools status`` so the three agree; this module only picks the pools the
viewer may see and shapes them for the page.
"""

from __future__ import annotations

from typing import Any

from backend.settings import Settings
from pool import health
from pool.scope import Scope
from pool.store import Store, now_ms


async def pool_health(db: Store, scope: Scope, settings: Settings) -> list[dict[str, Any]]:
    """One row per pool in scope: size, in use, utilization, peak, exhaustions, advice."""
    where, params = scope.where_condition("s", site="id")
    pools = await db.fetchall(
        "SELECT p.id, p.ttl_ms, p.grace_ms, s.name AS site_name FROM pools p"
        " JOIN sites s ON s.id = p.site_id" + where + " ORDER BY s.name, p.name, p.id",
        params,
    )
    now = now_ms()
    out = []
    for p in pools:
        h = await health.pool_health(
            db,
            pool_id=p["id"],
            now_ms=now,
            safety=settings.pool_safety_factor,
            alert_at=settings.pool_alert_utilization,
        )
        if h.exhaustions_in_window:
            alert = "exhausted"
        elif h.alert:
            alert = "high"
        else:
            alert = ""
        out.append(
            {
                "id": h.pool_id,
                "name": h.name,
                "site_name": p["site_name"],
                "target": h.target,
                "size": h.size,
                "in_use": h.live,
                "utilization": h.utilization,
                "peak_utilization": h.peak_utilization,
                "exhausted": h.exhaustions_in_window,
                "exhausted_total": h.exhausted_count,
                "recommended": h.recommended_size,
                "overflow_number": h.overflow_number,
                "alert": alert,
                "ttl_min": p["ttl_ms"] // 60_000,
                "grace_min": p["grace_ms"] // 60_000,
                "cooldown_min": h.cooldown_ms // 60_000,
            }
        )
    return out
