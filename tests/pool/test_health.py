"""Pool health: live and peak utilization, exhaustions, recommended size, alert."""

from __future__ import annotations

import pytest

from backend.storage import SQLiteDatabase
from pool import leases
from pool.health import HOUR_MS, _hourly_peaks, pool_health, site_health
from tests.pool.helpers import MIN, T0, make_pool_site, new_sessions

H0 = T0 - T0 % HOUR_MS  # the start of an hour


def test_hourly_peaks_count_overlaps_not_handovers() -> None:
    intervals = [
        (H0 + 10 * MIN, H0 + 20 * MIN),
        (H0 + 20 * MIN, H0 + 30 * MIN),  # starts as the first ends: not an overlap
        (H0 + 25 * MIN, H0 + 70 * MIN),  # runs into the next hour
    ]
    peaks = _hourly_peaks(intervals, H0, H0 + 2 * HOUR_MS)
    assert peaks == {H0: 2, H0 + HOUR_MS: 1}


async def test_health_of_a_busy_pool(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=4, ttl_ms=30 * MIN, cooldown_ms=10 * MIN)
    sessions = await new_sessions(db, ps.site_id, 6)
    # Hour 1: four visits arrive at once and fill the pool, two more overflow.
    for s in sessions:
        await leases.acquire(db, pool_id=ps.pool_id, session_id=s, now_ms=H0 + 5 * MIN)
    # Two of them leave after 20 minutes; the others idle out at their ttl (35 min).
    live = await db.fetchall("SELECT id FROM leases WHERE overflow = 0 ORDER BY id")
    for row in live[:2]:
        await leases.release(db, lease_id=row["id"], now_ms=H0 + 25 * MIN)
    now = H0 + HOUR_MS + 30 * MIN
    health = await pool_health(db, pool_id=ps.pool_id, now_ms=now, window_ms=2 * HOUR_MS)
    assert health.size == 4 and health.live == 0 and health.utilization == 0.0
    assert health.peak_utilization == 1.0 and health.peak_hour_ms == H0
    assert health.alert is True
    assert health.exhausted_count == 2 and health.exhaustions_in_window == 2
    assert health.peak_arrivals_per_hour == 6  # 4 leases + 2 refused claims
    assert health.avg_hold_ms == (2 * 20 + 2 * 30) * MIN // 4
    # At 00:05 four leases start and two claims are refused: six numbers would have been
    # busy at once (held, then resting 10 min), the size that never runs out.
    assert health.recommended_size == 6
    assert health.overflow_number is not None and health.target == ps.target
    by_hour = {h.hour_ms: h for h in health.hours}
    assert by_hour[H0].arrivals == 6 and by_hour[H0].exhaustions == 2
    assert by_hour[H0 + HOUR_MS].peak_live == 0
    data = health.to_dict(with_hours=False)
    assert "hours" not in data and data["recommended_size"] == 6


async def test_health_of_a_quiet_pool(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=10)
    (s,) = await new_sessions(db, ps.site_id, 1)
    await leases.acquire(db, pool_id=ps.pool_id, session_id=s, now_ms=T0)
    health = await pool_health(db, pool_id=ps.pool_id, now_ms=T0 + MIN)
    assert health.live == 1 and health.utilization == 0.1
    assert health.peak_utilization == 0.1 and health.alert is False
    assert health.exhausted_count == 0 and health.avg_hold_ms == MIN
    assert health.recommended_size == 1


async def test_health_of_an_unknown_pool(db: SQLiteDatabase) -> None:
    with pytest.raises(LookupError):
        await pool_health(db, pool_id=999, now_ms=T0)


async def test_site_health_lists_every_pool(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db, size=2)
    reports = await site_health(db, site_id=ps.site_id, now_ms=T0, alert_at=0.0)
    assert [r.pool_id for r in reports] == [ps.pool_id]
    assert reports[0].size == 2 and reports[0].alert is False


async def test_a_full_pool_is_never_told_to_shrink(db: SQLiteDatabase) -> None:
    """Issue #17: a pool 100 % in use, with a shortage alert, was told it needed fewer numbers
    than it has (live leases' holds were counted only up to now)."""
    ps = await make_pool_site(db, size=5, ttl_ms=30 * MIN, cooldown_ms=15 * MIN)
    sessions = await new_sessions(db, ps.site_id, 7)
    for i, s in enumerate(sessions):  # five fill it in a minute, two more are refused
        await leases.acquire(db, pool_id=ps.pool_id, session_id=s, now_ms=H0 + i * 10_000)
    health = await pool_health(db, pool_id=ps.pool_id, now_ms=H0 + 2 * MIN)
    assert health.utilization == 1.0 and health.exhaustions_in_window == 2
    assert health.recommended_size == 7 > health.size
    # Without the refused claims: exactly the size it used.
    ps2 = await make_pool_site(
        db, size=5, ttl_ms=30 * MIN, cooldown_ms=15 * MIN, site_key="s2", first=101
    )
    for s in await new_sessions(db, ps2.site_id, 5):
        await leases.acquire(db, pool_id=ps2.pool_id, session_id=s, now_ms=H0)
    full = await pool_health(db, pool_id=ps2.pool_id, now_ms=H0 + MIN)
    assert full.utilization == 1.0 and full.recommended_size == 5
