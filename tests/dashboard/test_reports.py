"""attribution.reports against seeded sessions and calls (no HTTP)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from attribution import reports
from tests.dashboard.seed import DAY, KEYWORD_A, KEYWORD_B, Seeded, add_call_a, add_session

WIDE = {"start_ms": 0, "end_ms": 2**53}


async def test_calls_by_keyword_for_one_advertiser(db: Any, seeded: Seeded) -> None:
    rows = await reports.calls_report(
        db, advertiser_id=seeded.adv_a, site_id=None, dimension="keyword", **WIDE
    )
    by_key = {r["key"]: r for r in rows}
    assert KEYWORD_B not in by_key
    assert by_key[KEYWORD_A] == {
        "key": KEYWORD_A,
        "sessions": 1,
        "calls": 1,
        "qualified_calls": 1,
        "first_time_callers": 1,
        "conversion_rate": 1.0,
    }
    assert by_key[""]["sessions"] == 5 and by_key[""]["calls"] == 0  # organic, no keyword
    assert rows[0]["calls"] >= rows[-1]["calls"]  # most calls first
    everyone = await reports.calls_report(
        db, advertiser_id=None, site_id=None, dimension="keyword", **WIDE
    )
    assert KEYWORD_B in {r["key"] for r in everyone}
    site_b = await reports.calls_report(
        db, advertiser_id=None, site_id=seeded.site_b, dimension="channel", **WIDE
    )
    assert site_b == [
        {
            "key": "paid_search",
            "sessions": 1,
            "calls": 1,
            "qualified_calls": 1,
            "first_time_callers": 0,
            "conversion_rate": 1.0,
        }
    ]
    # A site of another advertiser inside an advertiser's scope yields nothing.
    assert (
        await reports.calls_report(
            db, advertiser_id=seeded.adv_a, site_id=seeded.site_b, dimension="keyword", **WIDE
        )
        == []
    )


async def test_every_dimension_and_unknown_ones(db: Any, seeded: Seeded) -> None:
    for dimension in reports.DIMENSIONS:
        rows = await reports.calls_report(
            db, advertiser_id=seeded.adv_a, site_id=None, dimension=dimension, **WIDE
        )
        assert sum(r["calls"] for r in rows) == 2, dimension
        assert sum(r["sessions"] for r in rows) == 7, dimension
    pages = await reports.calls_report(
        db, advertiser_id=seeded.adv_a, site_id=None, dimension="landing_page", **WIDE
    )
    # The gclid in the landing URL does not split the page into its own row.
    assert {r["key"] for r in pages} == {
        "https://demo.example.jp/implant",
        "https://demo.example.jp/",
    }
    with pytest.raises(ValueError):
        await reports.calls_report(
            db, advertiser_id=None, site_id=None, dimension="1; DROP TABLE calls", **WIDE
        )


async def test_range_is_half_open_and_totals_match(db: Any, seeded: Seeded) -> None:
    first = await db.fetchval("SELECT MIN(started_ms) FROM calls")
    only_after = await reports.totals(
        db, advertiser_id=None, site_id=None, start_ms=first + 1, end_ms=2**53
    )
    everything = await reports.totals(db, advertiser_id=None, site_id=None, **WIDE)
    assert everything.calls == 3 and only_after.calls == 2
    assert everything.qualified_calls == 2 and everything.answered_calls == 3
    assert everything.sessions == 8
    upto = await reports.totals(db, advertiser_id=None, site_id=None, start_ms=0, end_ms=first)
    assert upto.calls == 0


async def test_calls_per_day_use_the_sites_timezone(db: Any, seeded: Seeded) -> None:
    # 2025-03-09 23:30 and 2025-03-10 00:30 in Tokyo (UTC+9) fall on two local days, while
    # both are 2025-03-09 in UTC.
    first, last = reports.local_day_range(date(2025, 3, 9), date(2025, 3, 10), "Asia/Tokyo")
    late = first + 23 * 3600_000 + 1800_000
    early = late + 3600_000
    async with db.write() as conn:
        for t, channel in (
            (late, "organic"),
            (early, "paid_search"),
            (early + 60_000, "paid_search"),
        ):
            sid = await add_session(conn, seeded.site_a, t - 60_000, channel=channel)
            await add_call_a(conn, seeded, caller="+819000000001", started_ms=t, session_id=sid)
    days = await reports.calls_by_day(
        db,
        advertiser_id=seeded.adv_a,
        site_id=None,
        start_ms=first,
        end_ms=last,
        timezone="Asia/Tokyo",
    )
    assert days == {date(2025, 3, 9): {"organic": 1}, date(2025, 3, 10): {"paid_search": 2}}
    in_utc = await reports.calls_by_day(
        db,
        advertiser_id=seeded.adv_a,
        site_id=None,
        start_ms=late,
        end_ms=early + DAY,
        timezone="UTC",
    )
    assert in_utc[date(2025, 3, 9)] == {"organic": 1, "paid_search": 2}
    # Days without calls are present, so the chart has no gaps.
    empty = await reports.calls_by_day(
        db,
        advertiser_id=seeded.adv_b,
        site_id=None,
        start_ms=first,
        end_ms=first + 5 * DAY,
        timezone="Asia/Tokyo",
    )
    assert len(empty) == 5 and all(v == {} for v in empty.values())


async def test_advertiser_summary_for_billing(db: Any, seeded: Seeded) -> None:
    rows = await reports.advertiser_summary(db, advertiser_id=None, **WIDE)
    by_name = {r["name"]: r for r in rows}
    assert by_name["Rival Clinic"]["calls"] == 1
    assert by_name["Rival Clinic"]["qualified_calls"] == 1
    demo = by_name["Demo Dental Clinic"]
    assert (demo["calls"], demo["qualified_calls"], demo["first_time_callers"]) == (2, 1, 2)
    assert demo["talk_minutes"] == round((120 + 20) / 60, 1)
    mine = await reports.advertiser_summary(db, advertiser_id=seeded.adv_b, **WIDE)
    assert [r["name"] for r in mine] == ["Rival Clinic"]


async def test_the_conversion_rate_counts_sessions_with_a_call(db: Any, seeded: Seeded) -> None:
    """電話CV率 is sessions with at least one call over sessions (issue #17: calls over
    sessions reached 369 % when visitors called again and again)."""
    first, last = reports.local_day_range(date(2025, 6, 1), date(2025, 6, 1), "Asia/Tokyo")
    async with db.write() as conn:
        caller = await add_session(conn, seeded.site_a, first + 60_000, channel="referral")
        await add_session(conn, seeded.site_a, first + 120_000, channel="referral")
        for i in range(3):  # one visitor calls three times
            await add_call_a(
                conn,
                seeded,
                caller="+819000000002",
                started_ms=first + 600_000 + i * 60_000,
                session_id=caller,
            )
    span = {"start_ms": first, "end_ms": last}
    rows = await reports.calls_report(
        db, advertiser_id=seeded.adv_a, site_id=None, dimension="channel", **span
    )
    assert rows == [
        {
            "key": "referral",
            "sessions": 2,
            "calls": 3,
            "qualified_calls": 0,
            "first_time_callers": 0,
            "conversion_rate": 0.5,
        }
    ]
    total = await reports.totals(db, advertiser_id=seeded.adv_a, site_id=None, **span)
    assert (total.sessions, total.calls, total.conversion_rate) == (2, 3, 0.5)
    # A call in the range whose session started before it: a call, not a converted session
    # of this range (the rate stays a share of the range's sessions).
    later = {"start_ms": first + 300_000, "end_ms": last}
    total = await reports.totals(db, advertiser_id=seeded.adv_a, site_id=None, **later)
    assert (total.sessions, total.calls, total.conversion_rate) == (0, 3, 0.0)
