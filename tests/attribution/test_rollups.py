"""Daily roll-ups of sessions (issue #17): reports read from them equal the reports read from
every session, cell for cell, for every dimension, pair of dimensions, filter and scope (an
administrator, a site, an advertiser, an advertiser shown on a site it does not own), on
seeded random data, before and after late changes (a new touch on an older session, calls
matched late, re-attributed, worked by hand or deleted, the retention purge), and whatever
part of the range is rolled up (today, days not yet built, days marked changed, ranges
that cut a day, sites in another time zone)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from attribution import report_dimensions, reports, rollups
from attribution.devices import Device
from attribution.exports import purge_older_than
from attribution.geo import UNKNOWN
from attribution.sessions import PageView, record_visit
from attribution.sources import Source
from attribution.touch import COPY_FROM_SESSIONS
from backend.storage.seed import PoolSpec, SiteSpec, TenantSpec, seed_world
from pool.store import Store

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_767_193_200_000  # 2026-01-01 00:00 in Tokyo
DAYS = 10
NOW = T0 + (DAYS - 1) * DAY + 15 * HOUR  # the last day is today: never rolled up
VALUES = {
    "channel": ["paid_search", "organic", "direct", ""],
    "source": ["google", "yahoo", ""],
    "campaign": ["c1", "c2", ""],
    "ad_group": ["g1", "g2", "g3", ""],
    "keyword": ["インプラント", "implant cost", "kw3", ""],
    "match_type": ["exact", "phrase", ""],
    "device": ["mobile", "desktop", ""],
    "landing_page": ["https://a.example/", "https://a.example/p?x=1", ""],
}
CONFIDENCES = ["exact", "high", "medium", "low"]


async def seed(db: Store, rng: random.Random) -> dict[str, Any]:
    """Advertisers A (sites a1 in Tokyo, a2 in New York) and B (site b1), B's numbers also
    on A's site a1 (a portal's shared site); sessions and calls at random."""
    world = await seed_world(
        db,
        [
            TenantSpec(
                "B", sites=[SiteSpec("b1", pools=[PoolSpec("+81300000002", ["+815000000021"])])]
            ),
            TenantSpec(
                "A",
                sites=[
                    SiteSpec(
                        "a1",
                        pools=[
                            PoolSpec("+81300000001", ["+815000000011"]),
                            PoolSpec("+81300000003", ["+815000000031"], label="b", advertiser="B"),
                        ],
                    ),
                    SiteSpec("a2"),
                ],
            ),
        ],
        at_ms=T0,
    )
    a1, a2, b1 = world.site("a1"), world.site("a2"), world.site("b1")
    shared = a1.pools[1]
    sessions: list[tuple[int, int, int]] = []  # (id, site, started)
    async with db.write() as tx:
        await tx.execute(
            "UPDATE sites SET timezone = 'America/New_York' WHERE id = :s", {"s": a2.site_id}
        )
        for _ in range(300):
            site = rng.choice([a1, a1, a2, b1])
            started = T0 + rng.randrange(DAYS * DAY - 9 * HOUR)
            values = {c: rng.choice(v) for c, v in VALUES.items()}
            sid = await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms, channel, source,"
                " campaign, ad_group, keyword, match_type, device, landing_page)"
                " VALUES (:site, :t, :t, :channel, :source, :campaign, :ad_group, :keyword,"
                " :match_type, :device, :landing_page) RETURNING id",
                {"site": site.site_id, "t": started, **values},
            )
            sessions.append((int(sid), site.site_id, started))
            if site is a1 and rng.random() < 0.3:  # shown B's number on A's site
                await tx.execute(
                    "INSERT INTO leases (pool_id, number_id, session_id, started_ms,"
                    " last_seen_ms, expires_ms, ended_ms) VALUES (:p, :n, :s, :t, :t, :t, :t)",
                    {"p": shared.pool_id, "n": shared.number_ids[0], "s": sid, "t": started},
                )
        for i in range(160):
            matched = rng.random() < 0.75
            sid, site_id, started = rng.choice(sessions)
            if not matched:
                site_id = rng.choice([a1.site_id, a2.site_id, b1.site_id])
                started = T0 + rng.randrange(DAYS * DAY - 9 * HOUR)
            # Calls to B's number on A's site are B's; the rest the site's advertiser's.
            adv = rng.choice([a1.advertiser_id, b1.advertiser_id])
            await tx.execute(
                "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id,"
                " tracking_number, caller, started_ms, status, session_id, match_method,"
                " match_confidence, qualified, first_time, created_ms, updated_ms)"
                " VALUES ('test', :pid, :adv, :site, '+815000000011', '+819000000000', :t,"
                " 'completed', :sid, :m, :conf, :q, :f, :t, :t)",
                {
                    "pid": f"CA{i}",
                    "adv": adv,
                    "site": site_id,
                    "t": started + rng.randrange(0, 3 * HOUR),
                    "sid": sid if matched else None,
                    "m": "lease" if matched else "none",
                    "conf": rng.choice(CONFIDENCES) if matched else "",
                    "q": rng.randrange(2),
                    "f": rng.randrange(2),
                },
            )
        await tx.execute(COPY_FROM_SESSIONS)
    return {
        "a": a1.advertiser_id,
        "b": b1.advertiser_id,
        "a1": a1.site_id,
        "a2": a2.site_id,
        "b1": b1.site_id,
        "sessions": sessions,
    }


def scopes(w: dict[str, Any]) -> list[tuple[int | None, int | None]]:
    return [
        (None, None),  # an administrator: every advertiser
        (None, w["a1"]),
        (w["a"], None),
        (w["a"], w["a2"]),  # a site in New York
        (w["b"], None),  # B: its own site and what it was shown on A's
        (w["b"], w["a1"]),  # B on A's site: only the sessions shown its number
        (w["b"], w["b1"]),
    ]


def ranges() -> list[tuple[int, int]]:
    return [
        (T0, T0 + 7 * DAY),  # whole Tokyo days
        (T0 + 2 * DAY + 5 * HOUR, T0 + DAYS * DAY),  # cutting a day; today included
    ]


async def every_report(db: Store, w: dict[str, Any]) -> dict[str, Any]:
    """Every report of every scope and range, as plain data."""
    out: dict[str, Any] = {}
    dims = list(reports.DIMENSIONS)
    pairs = list(itertools.permutations(dims, 2))
    for (adv, site), (i, (a, b)) in itertools.product(scopes(w), enumerate(ranges())):
        scope = {"advertiser_id": adv, "site_id": site, "start_ms": a, "end_ms": b}
        tag = f"{adv}/{site}/{a}-{b}"
        out[f"totals {tag}"] = await reports.totals(db, **scope)
        out[f"totals high {tag}"] = await reports.totals(db, **scope, confidences=("high",))
        for d in dims:
            out[f"{d} {tag}"] = await reports.calls_report(db, dimension=d, **scope)
        # Each scope gets every pair of dimensions, half of them on each range.
        for pair in pairs[i :: len(ranges())]:
            out[f"{pair} {tag}"] = await report_dimensions.breakdown(db, dimensions=pair, **scope)
        for triple in (
            ("keyword", "source", "match_type"),
            ("campaign", "ad_group", "keyword"),
            ("source", "match_type", "keyword"),  # the packed grain, columns in another order
        ):
            out[f"{triple} {tag}"] = await report_dimensions.breakdown(
                db, dimensions=triple, **scope
            )
            out[f"{triple} google {tag}"] = await report_dimensions.breakdown(
                db, dimensions=triple, filters={"source": "google"}, **scope
            )
        out[f"landing × device, c1 {tag}"] = await report_dimensions.breakdown(
            db, dimensions=("landing_page", "device"), filters={"campaign": "c1"}, **scope
        )
    return out


def assert_same(rolled: dict[str, Any], raw: dict[str, Any]) -> None:
    assert rolled.keys() == raw.keys()
    for name, expected in raw.items():
        assert rolled[name] == expected, name


async def raw_reports(db: Store, w: dict[str, Any]) -> dict[str, Any]:
    """The reports with nothing rolled up (every session read); the roll-up is put back."""
    keep_days = await db.fetchall("SELECT * FROM report_days")
    keep_rows = await db.fetchall("SELECT * FROM report_session_days")
    async with db.write() as tx:
        await tx.execute("DELETE FROM report_session_days")
        await tx.execute("DELETE FROM report_days")
    out = await every_report(db, w)
    async with db.write() as tx:
        if keep_days:
            await tx.executemany(
                "INSERT INTO report_days (site_id, day_ms, day_end_ms, version, built_version,"
                " built_ms) VALUES (:site_id, :day_ms, :day_end_ms, :version, :built_version,"
                " :built_ms)",
                keep_days,
            )
        if keep_rows:
            columns = list(keep_rows[0])
            await tx.executemany(
                f"INSERT INTO report_session_days ({', '.join(columns)})"
                f" VALUES ({', '.join(':' + c for c in columns)})",
                keep_rows,
            )
    return out


async def rolled_days(db: Store) -> int:
    return int(await db.fetchval("SELECT COUNT(*) FROM report_days WHERE built_version = version"))


async def test_rolled_up_reports_equal_the_raw_ones(db: Store) -> None:
    rng = random.Random(17)
    w = await seed(db, rng)
    raw = await every_report(db, w)
    assert raw[f"totals None/None/{T0}-{T0 + 7 * DAY}"].sessions > 150

    # Every closed day of every site rolled up; today is not (it is still being written).
    done = await rollups.refresh(db, now=NOW, budget=None)
    assert done.built > 0 and done.left == 0
    assert await rolled_days(db) == done.built
    today = await db.fetchval(
        "SELECT COUNT(*) FROM report_days WHERE day_end_ms > :now", {"now": NOW}
    )
    assert today == 0
    assert await db.fetchval("SELECT COUNT(*) FROM report_session_days") > 0
    assert_same(await every_report(db, w), raw)

    # Late changes. Calls: matched late, re-attributed, worked by hand, deleted.
    async with db.write() as tx:
        unmatched = await tx.fetchval(
            "SELECT MIN(id) FROM calls WHERE session_id IS NULL AND site_id = :s",
            {"s": w["a1"]},
        )
        target = next(s for s in w["sessions"] if s[1] == w["a1"])
        await tx.execute(
            "UPDATE calls SET session_id = :s, match_method = 'lease', match_confidence = 'high'"
            " WHERE id = :c",
            {"s": target[0], "c": unmatched},
        )
        await tx.execute(COPY_FROM_SESSIONS + " AND calls.id = :c", {"c": unmatched})
        await tx.execute("UPDATE calls SET qualified = 1 - qualified WHERE id % 3 = 0")
        await tx.execute(
            "UPDATE calls SET touch_keyword = 'kw3', touch_source = 'yahoo' WHERE id % 5 = 0"
        )
        await tx.execute("DELETE FROM calls WHERE id % 7 = 0")
    # A visitor back on an older session with a new ad click: the real write path.
    old_id, old_site, _ = next(s for s in w["sessions"] if s[1] == w["a1"] and s[2] < T0 + 3 * DAY)
    async with db.write() as tx:
        await record_visit(
            tx,
            site_id=old_site,
            session_id=old_id,
            source=Source(
                channel="paid_search",
                source="google",
                campaign="c2",
                ad_group="g9",
                keyword="new words",
                match_type="broad",
                landing_url="https://a.example/new",
            ),
            new_touch=True,
            page=PageView("https://a.example/new"),
            now_ms=NOW,
            device=Device("mobile", "", "", False),
            user_agent="test",
            geo=UNKNOWN,
            ip_hash="x",
            dialect=db.dialect,
        )
    assert await rolled_days(db) == done.built - 1  # that session's day, read raw again
    raw = await raw_reports(db, w)
    assert_same(await every_report(db, w), raw)
    again = await rollups.refresh(db, now=NOW, budget=None)
    assert again.built == 1
    assert_same(await every_report(db, w), raw)

    # The retention purge deletes the oldest sessions: their days are redone.
    purged = await purge_older_than(db, cutoff_ms=T0 + 2 * DAY)
    assert purged.sessions > 0
    assert await rolled_days(db) < done.built
    raw = await raw_reports(db, w)
    assert_same(await every_report(db, w), raw)
    await rollups.refresh(db, now=NOW, budget=None)
    assert_same(await every_report(db, w), raw)

    # A site's time zone changes: its days are made again on the new grid.
    async with db.write() as tx:
        await tx.execute("UPDATE sites SET timezone = 'UTC' WHERE id = :s", {"s": w["a1"]})
    assert_same(await every_report(db, w), raw)  # the old days still count right
    await rollups.refresh(db, now=NOW, budget=None)
    starts = [
        int(r["day_ms"])
        for r in await db.fetchall(
            "SELECT day_ms FROM report_days WHERE site_id = :s", {"s": w["a1"]}
        )
    ]
    assert starts and all(d % DAY == 0 for d in starts)
    assert_same(await every_report(db, w), raw)

    # A full rebuild.
    assert (await rollups.rebuild(db, now=NOW)).left == 0
    assert_same(await every_report(db, w), raw)

    # The reports do read the roll-up: a wrong count in it shows.
    async with db.write() as tx:
        await tx.execute("UPDATE report_session_days SET sessions = sessions + 1")
    name = f"totals None/None/{T0}-{T0 + 7 * DAY}"
    wrong = await reports.totals(
        db, advertiser_id=None, site_id=None, start_ms=T0, end_ms=T0 + 7 * DAY
    )
    assert wrong.sessions > raw[name].sessions
    # ... and a report reading every session does not.
    rollups.READ = False
    try:
        right = await reports.totals(
            db, advertiser_id=None, site_id=None, start_ms=T0, end_ms=T0 + 7 * DAY
        )
    finally:
        rollups.READ = True
    assert right == raw[name]


async def test_refresh_budget_builds_newest_days_first(db: Store) -> None:
    w = await seed(db, random.Random(5))
    raw = await every_report(db, w)
    first = await rollups.refresh(db, now=NOW, budget=4)
    assert first.built == 4 and first.left > 0
    newest = await db.fetchval("SELECT MAX(day_ms) FROM report_days")
    assert newest >= T0 + (DAYS - 3) * DAY
    # Half built: still the same reports.
    assert_same(await every_report(db, w), raw)


def test_grains() -> None:
    assert rollups.grain_for(()) == 0
    assert rollups.grain_for(("channel", "device")) == 1
    assert rollups.grain_for(("landing_page",)) == 2
    assert rollups.grain_for(("keyword", "source", "match_type")) == 3
    assert rollups.grain_for(("keyword", "device")) == 3
    assert rollups.grain_for(("landing_page", "keyword")) is None
    assert rollups.grain_for(("landing_page", "device")) is None
    assert rollups.packed_grain(("match_type", "keyword", "source")) == 4
    assert rollups.packed_grain(("keyword", "source", "match_type"), ["source"]) is None
    assert rollups.packed_grain(("keyword", "source")) is None


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "America/New_York", "Asia/Kathmandu"])
def test_local_days(tz: str) -> None:
    # Around New York's change to summer time (2026-03-08): a 23-hour day.
    days = rollups.local_days(1_772_900_000_000, 1_773_300_000_000, tz)
    assert days and all(b > a for a, b in days)
    assert all(days[i][1] == days[i + 1][0] for i in range(len(days) - 1))
    lengths = {b - a for a, b in days}
    assert lengths <= {DAY, DAY - HOUR}
    assert (DAY - HOUR in lengths) == (tz == "America/New_York")
