"""Pool health: how full a pool is, how full it got, and how big it should be.

Read-only figures computed from the lease history and the exhaustion log, for the
dashboard, ``GET /api/pools/{id}/health`` and ``callpath pools status``:

- ``live`` / ``utilization``: live pool leases now, over the pool's size (numbers of kind
  'pool' not retired);
- ``hours``: per UTC hour of the window, the peak number of simultaneous leases, its
  utilization (over today's size), arrivals (new leases plus refused claims) and
  exhaustions;
- ``recommended_size``: the most numbers the window's traffic kept busy at once, counting
  each lease from its start to its end (idle ttl included; a live lease at least to its
  expiry) plus the pool's cooldown, since a number rests before it can serve again, and each
  refused claim as a lease of the average hold: the size at which the pool would never have
  run out. It is ``callpath simulate``'s "never runs out" size measured on real traffic (the
  same definition, ``attribution.simulate.peak_demand``), times ``safety`` (1.0: none), so a
  pool that ran out is always told to grow and a full pool is never told to shrink below
  what it used;
- ``alert``: the peak utilization of the window is above ``alert_at`` (default 75%).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict, Unpack

from pool.store import Store

HOUR_MS = 3_600_000
DEFAULT_WINDOW_MS = 7 * 24 * HOUR_MS


@dataclass(frozen=True)
class HourStat:
    """One UTC hour of a pool's life."""

    hour_ms: int
    peak_live: int
    peak_utilization: float
    arrivals: int
    exhaustions: int


@dataclass(frozen=True)
class PoolHealth:
    """The health of one pool over a window ending now."""

    pool_id: int
    site_id: int
    name: str
    target: str
    size: int
    live: int
    utilization: float
    peak_utilization: float
    peak_hour_ms: int | None
    exhausted_count: int
    exhaustions_in_window: int
    peak_arrivals_per_hour: int
    avg_hold_ms: int
    cooldown_ms: int
    recommended_size: int
    alert: bool
    overflow_number: str | None
    window_start_ms: int
    window_end_ms: int
    hours: list[HourStat] = field(default_factory=list)

    def to_dict(self, *, with_hours: bool = True) -> dict[str, Any]:
        """Plain data for JSON."""
        data = asdict(self)
        if not with_hours:
            del data["hours"]
        return data


def _ratio(part: int, whole: int) -> float:
    if whole <= 0:
        return 1.0 if part > 0 else 0.0
    return round(part / whole, 4)


def _hourly_peaks(intervals: list[tuple[int, int]], start: int, end: int) -> dict[int, int]:
    """Peak simultaneous intervals per hour bucket (keyed by the hour's start) in [start, end)."""
    events: list[tuple[int, int]] = []
    for s, e in intervals:
        events.append((max(s, start), 1))
        events.append((max(e, start), -1))
    # Ends sort before starts at the same instant: a handover is not an overlap.
    events.sort(key=lambda ev: (ev[0], ev[1]))
    first_hour = start - start % HOUR_MS
    peaks: dict[int, int] = {}
    current = 0
    i = 0
    hour = first_hour
    while hour < end:
        nxt = hour + HOUR_MS
        # Whatever is live when the hour opens counts toward its peak.
        while i < len(events) and events[i][0] <= hour:
            current += events[i][1]
            i += 1
        peak = current
        while i < len(events) and events[i][0] < nxt:
            current += events[i][1]
            i += 1
            peak = max(peak, current)
        peaks[hour] = peak
        hour = nxt
    return peaks


def _peak_demand(
    leases: list[Any], refused: list[Any], now_ms: int, avg_hold_ms: int, cooldown_ms: int
) -> int:
    """The most numbers busy at once (held or resting), refused claims served as average
    holds; 0 when nothing was asked of the pool."""
    busy: list[tuple[int, int]] = []
    for r in leases:
        # A live lease holds its number at least until its expiry (heartbeats may extend it).
        end = r["ended_ms"] if r["ended_ms"] is not None else max(r["expires_ms"], now_ms)
        busy.append((r["started_ms"], end + cooldown_ms))
    hold = max(avg_hold_ms, 1)
    busy.extend((r["ts_ms"], r["ts_ms"] + hold + cooldown_ms) for r in refused)
    edges = sorted([(s, 1) for s, _ in busy] + [(e, -1) for _, e in busy])
    current = peak = 0
    for _, step in edges:  # ends sort before starts at one instant: a handover
        current += step
        peak = max(peak, current)
    return peak


class HealthOptions(TypedDict, total=False):
    """How :func:`pool_health` looks at a pool: the window before now it reads, the safety
    factor of its recommended size and the peak utilization that raises its alert."""

    window_ms: int
    safety: float
    alert_at: float


async def pool_health(
    db: Store,
    *,
    pool_id: int,
    now_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
    safety: float = 1.0,
    alert_at: float = 0.75,
) -> PoolHealth:
    """The health of ``pool_id`` over the ``window_ms`` before ``now_ms``; LookupError if none."""
    pool = await db.fetchone(
        "SELECT p.id, p.site_id, p.name, p.cooldown_ms, p.exhausted_count, t.number AS target,"
        " o.number AS overflow_number FROM pools p JOIN targets t ON t.id = p.target_id"
        " LEFT JOIN tracking_numbers o ON o.id = p.overflow_number_id WHERE p.id = :p",
        {"p": pool_id},
    )
    if pool is None:
        raise LookupError(f"no pool {pool_id}")
    start = now_ms - window_ms
    size = int(
        await db.fetchval(
            "SELECT COUNT(*) FROM tracking_numbers WHERE pool_id = :p AND kind = 'pool'"
            " AND status <> 'retired'",
            {"p": pool_id},
        )
    )
    rows = await db.fetchall(
        "SELECT started_ms, expires_ms, ended_ms FROM leases WHERE pool_id = :p AND overflow = 0"
        " AND started_ms < :end AND (ended_ms IS NULL OR ended_ms > :start)",
        {"p": pool_id, "start": start, "end": now_ms},
    )
    # A live lease past its ttl has ended, whether or not a claim has stamped it yet.
    intervals = [
        (
            r["started_ms"],
            r["ended_ms"] if r["ended_ms"] is not None else min(r["expires_ms"], now_ms),
        )
        for r in rows
    ]
    live = sum(1 for r in rows if r["ended_ms"] is None and r["expires_ms"] > now_ms)
    refused = await db.fetchall(
        "SELECT ts_ms FROM pool_exhaustions WHERE pool_id = :p AND ts_ms >= :start"
        " AND ts_ms < :end",
        {"p": pool_id, "start": start, "end": now_ms + 1},
    )
    peaks = _hourly_peaks(intervals, start, now_ms + 1)
    arrivals = dict.fromkeys(peaks, 0)
    exhaustions = dict.fromkeys(peaks, 0)
    for s, _ in intervals:
        if s >= start:
            arrivals[s - s % HOUR_MS] = arrivals.get(s - s % HOUR_MS, 0) + 1
    for r in refused:
        h = r["ts_ms"] - r["ts_ms"] % HOUR_MS
        arrivals[h] = arrivals.get(h, 0) + 1
        exhaustions[h] = exhaustions.get(h, 0) + 1
    hours = [
        HourStat(h, peaks[h], _ratio(peaks[h], size), arrivals.get(h, 0), exhaustions.get(h, 0))
        for h in sorted(peaks)
    ]
    peak_hour = max(hours, key=lambda x: (x.peak_live, x.hour_ms), default=None)
    peak_util = peak_hour.peak_utilization if peak_hour else 0.0
    held = [e - s for s, e in intervals if s >= start and e > s]
    avg_hold = sum(held) // len(held) if held else 0
    peak_arrivals = max((x.arrivals for x in hours), default=0)
    demand = _peak_demand(rows, refused, now_ms, avg_hold, pool["cooldown_ms"])
    recommended = math.ceil(demand * safety) if demand else size
    return PoolHealth(
        pool_id=pool["id"],
        site_id=pool["site_id"],
        name=pool["name"],
        target=pool["target"],
        size=size,
        live=live,
        utilization=_ratio(live, size),
        peak_utilization=peak_util,
        peak_hour_ms=peak_hour.hour_ms if peak_hour and peak_hour.peak_live else None,
        exhausted_count=int(pool["exhausted_count"]),
        exhaustions_in_window=len(refused),
        peak_arrivals_per_hour=peak_arrivals,
        avg_hold_ms=avg_hold,
        cooldown_ms=pool["cooldown_ms"],
        recommended_size=recommended,
        alert=peak_util > alert_at,
        overflow_number=pool["overflow_number"],
        window_start_ms=start,
        window_end_ms=now_ms,
        hours=hours,
    )


async def site_health(
    db: Store, *, site_id: int, now_ms: int, **options: Unpack[HealthOptions]
) -> list[PoolHealth]:
    """The health of every pool of a site, in pool order (``options`` as for
    :func:`pool_health`)."""
    rows = await db.fetchall("SELECT id FROM pools WHERE site_id = :s ORDER BY id", {"s": site_id})
    return [await pool_health(db, pool_id=r["id"], now_ms=now_ms, **options) for r in rows]
