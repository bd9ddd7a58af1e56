"""Report queries over 1,000,000 sessions and 50,000 calls on SQLite.

    python -m bench.reports [--sessions N] [--calls N] [--db PATH]

Seeds a fresh database (bulk ``executemany`` in large transactions), then times each query
of ``attribution.reports``, ``attribution.report_dimensions`` and
``attribution.report_tables`` for three scopes (one site, one advertiser, every advertiser)
over the last 30 days (and the default reports page's report table rendered) and prints a
Markdown table: median of 5 runs (3 for every row of the page) in milliseconds and the
ratio to a baseline measured in the same run (an indexed ``COUNT(*)`` of the same sessions).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from attribution import report_dimensions, report_tables, reports, rollups
from attribution.touch import COPY_FROM_SESSIONS
from backend.dashboard import i18n, report_grids
from backend.dashboard.report_options import PAGE_ROWS
from backend.dashboard.web import templates
from backend.storage import open_database
from pool.store import Store

DAY = 86_400_000
DAYS = 90
ADVERTISERS = 5
SITES_PER_ADVERTISER = 2
BATCH = 100_000
TARGET_MS = 300

CHANNELS = [
    ("paid_search", 30),
    ("organic", 30),
    ("direct", 15),
    ("referral", 8),
    ("paid_social", 7),
    ("social", 5),
    ("email", 3),
    ("display", 2),
]
SOURCES = ["google", "yahoo", "bing", "facebook", "instagram", "line", "x", "epark.jp"] + [
    f"partner{i}.example.jp" for i in range(12)
]
# Where ad clicks come from: search ads from the search engines, social ads from the networks.
AD_SOURCES = {"paid_search": SOURCES[:3], "paid_social": SOURCES[3:7]}
MATCH_TYPES = ("exact", "phrase", "broad")


async def seed(db: Store, sessions: int, calls: int, now: int) -> list[int]:
    """Advertisers, sites and the bulk rows; returns the site ids."""
    rng = random.Random(42)
    site_ids: list[int] = []
    async with db.write() as tx:
        for a in range(ADVERTISERS):
            adv = await tx.fetchval(
                "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0) RETURNING id",
                {"n": f"Advertiser {a}"},
            )
            for s in range(SITES_PER_ADVERTISER):
                site_ids.append(
                    await tx.fetchval(
                        "INSERT INTO sites (advertiser_id, site_key, name, created_ms)"
                        " VALUES (:a, :k, :n, 0) RETURNING id",
                        {"a": adv, "k": f"bench-{a}-{s}", "n": f"Site {a}-{s}"},
                    )
                )
    adv_of = {sid: 1 + i // SITES_PER_ADVERTISER for i, sid in enumerate(site_ids)}
    channel_names = [c for c, _ in CHANNELS]
    channel_weights = [w for _, w in CHANNELS]
    keywords = [f"keyword {i}" for i in range(2000)]
    pages = [f"https://site.example.jp/page/{i}" for i in range(300)]
    start = now - DAYS * DAY
    session_sql = (
        "INSERT INTO sessions (site_id, started_ms, last_seen_ms, device, landing_url,"
        " landing_page, channel, source, medium, campaign, ad_group, keyword, match_type)"
        " VALUES (:site, :t, :t, :device, :landing, :page, :channel, :source, :medium,"
        " :campaign, :ad_group, :keyword, :match_type)"
    )
    rows: list[dict[str, Any]] = []
    meta: list[tuple[int, int]] = []  # (site, started) per session id, for calls
    # Sessions are written as visitors arrive, so ids follow time: seed them in time order.
    times = sorted(start + rng.randrange(DAYS * DAY) for _ in range(sessions))
    for t in times:
        channel = rng.choices(channel_names, channel_weights)[0]
        paid = channel.startswith("paid")
        # As in an ad account: a keyword sits in one ad group of one campaign, with one match
        # type, and the same keywords are bought on each search engine.
        k = rng.randrange(len(keywords))
        site = rng.choice(site_ids)
        page = rng.choice(pages)
        rows.append(
            {
                "site": site,
                "t": t,
                "device": rng.choice(("mobile", "mobile", "desktop", "tablet")),
                # Ad clicks land with a click id, unique per click, as in service.
                "landing": page
                + (f"?gclid={rng.getrandbits(64):016x}&utm_medium=cpc" if paid else ""),
                "page": page,
                "channel": channel,
                "source": rng.choice(AD_SOURCES.get(channel, SOURCES))
                if channel != "direct"
                else "",
                "medium": "cpc" if paid else "",
                "campaign": f"campaign {k // 40}" if paid else "",  # 50 campaigns
                "ad_group": f"ad group {k // 10}" if paid else "",  # 200 ad groups
                "keyword": keywords[k] if paid else "",
                "match_type": MATCH_TYPES[k % 3] if channel == "paid_search" else "",
            }
        )
        meta.append((site, t))
        if len(rows) >= BATCH:
            async with db.write() as tx:
                await tx.executemany(session_sql, rows)
            rows = []
    if rows:
        async with db.write() as tx:
            await tx.executemany(session_sql, rows)
    first_id = int(await db.fetchval("SELECT MIN(id) FROM sessions"))
    call_sql = (
        "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id, tracking_number,"
        " caller, started_ms, answered_ms, status, talk_s, session_id, match_method, qualified,"
        " first_time, created_ms, updated_ms) VALUES ('bench', :pid, :adv, :site, '+815000000000',"
        " :caller, :t, :t, 'completed', :talk, :session, :method, :q, :f, :t, :t)"
    )
    crow: list[dict[str, Any]] = []
    # Calls too arrive in time order (each a few minutes after its visit).
    for i, index in enumerate(sorted(rng.randrange(sessions) for _ in range(calls))):
        matched = rng.random() < 0.8
        site, t = meta[index]
        if not matched:
            site = rng.choice(site_ids)
        crow.append(
            {
                "pid": f"CA{i}",
                "adv": adv_of[site],
                "site": site,
                "caller": f"+8190{rng.randrange(10**8):08d}",
                "t": t + rng.randrange(60_000, 900_000),
                "talk": rng.randrange(600),
                "session": first_id + index if matched else None,
                "method": "lease" if matched else "none",
                "q": int(rng.random() < 0.6),
                "f": int(rng.random() < 0.7),
            }
        )
    async with db.write() as tx:
        await tx.executemany(call_sql, crow)
        # Reports read the touch frozen on each call, as telephony stores it.
        await tx.execute(COPY_FROM_SESSIONS)
    return site_ids


class _Filters:
    """What the report's template reads of the page's filters (its query strings)."""

    def query(self, *, drill: bool = True, **extra: Any) -> str:
        return urlencode({"from": "2026-11-01", "to": "2026-11-30", **extra})


# The report's table as the reports page renders it (backend/templates/_report_grid.html).
_GRID = templates.env.from_string(
    '{% from "_report_grid.html" import grid with context %}'
    '{{ grid(report, "report", "data sortable") }}'
)


def report_html(
    rows: list[dict[str, Any]], totals: reports.Totals, dims: tuple[str, ...], limit: int | None
) -> str:
    """The report's rows laid out (``report_grids.report_table``) and rendered as the
    dashboard's reports page does by default (sorted by calls, as the rows come): the
    first ``limit`` rows (None: every row)."""
    t = i18n.translator("ja")
    f = _Filters()
    table = report_grids.report_table(
        t,
        dimensions=dims,
        rows=rows,
        totals={c: getattr(totals, c) for c in (*report_dimensions.COUNTS, "conversion_rate")},
        compare=False,
        drill_link=lambda pairs: "/dashboard/calls?" + f.query(by=pairs[-1][0], value=pairs[-1][1]),
        limit=limit,
    )
    return _GRID.render(report=table, t=t, f=f, keep={}, sort="calls", descending=True)


async def timed(work: Callable[[], Awaitable[Any]], runs: int = 5) -> tuple[float, float]:
    """Median wall time and median CPU time of ``work`` in ms (after one warm-up run).

    CPU time (every thread of the process, so the reader threads' SQLite work counts) says
    what a query costs when the machine is shared; wall time, what a person waits.
    """
    await work()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        await work()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument(
        "--db", help="database file, kept and reused on the next run (default: a temporary one)"
    )
    parser.add_argument(
        "--no-rollups",
        action="store_true",
        help="read every session (drop the daily roll-ups first): the reports as before them",
    )
    args = parser.parse_args(argv)
    folder = tempfile.TemporaryDirectory()
    path = Path(args.db) if args.db else Path(folder.name) / "bench.db"
    db = await open_database(f"sqlite:///{path}")
    now = int(time.time() * 1000)
    try:
        existing = await db.fetchval("SELECT COUNT(*) FROM sessions")
        if existing:
            # A kept database (--db) is reused as seeded; "now" is its newest session.
            sites = [r["id"] for r in await db.fetchall("SELECT id FROM sites ORDER BY id")]
            now = int(await db.fetchval("SELECT MAX(started_ms) FROM sessions"))
            print(f"reusing {path} ({existing:,} sessions)\n")
        else:
            t0 = time.perf_counter()
            sites = await seed(db, args.sessions, args.calls, now)
            seeded_s = time.perf_counter() - t0
            print(
                f"seeded {args.sessions:,} sessions and {args.calls:,} calls in {seeded_s:.1f} s"
                f" ({args.sessions / seeded_s:,.0f} sessions/s)\n"
            )
        if args.no_rollups:
            async with db.write() as tx:
                await tx.execute("DELETE FROM report_session_days")
                await tx.execute("DELETE FROM report_days")
            print("daily roll-ups dropped: every report reads the sessions\n")
        else:
            # What the server's periodic round keeps up to date (`callpath reports rebuild`).
            t0, c0 = time.perf_counter(), time.process_time()
            done = await rollups.refresh(db, now=int(time.time() * 1000), budget=None)
            print(
                f"daily roll-ups: {done.built:,} site-days rolled up in"
                f" {time.perf_counter() - t0:.1f} s (CPU {time.process_time() - c0:.1f} s)\n"
            )
        start_ms, end_ms = now - 30 * DAY, now
        # As the server does once started (backend/app.py): what lives as long as the process
        # (modules, the seeded database's leftovers here) is kept out of the collector's way.
        gc.collect()
        gc.freeze()
        scopes = {
            "one site": {"advertiser_id": 1, "site_id": sites[0]},
            "one advertiser": {"advertiser_id": 1, "site_id": None},
            "all advertisers": {"advertiser_id": None, "site_id": None},
        }
        rng = {"start_ms": start_ms, "end_ms": end_ms}

        async def baseline() -> None:
            await db.fetchval(
                "SELECT COUNT(*) FROM sessions WHERE site_id = :s"
                " AND started_ms >= :a AND started_ms < :b",
                {"s": sites[0], "a": start_ms, "b": end_ms},
            )

        base, base_cpu = await timed(baseline)
        print(
            f"baseline (indexed COUNT of one site's 30 days): {base:.1f} ms"
            f" (CPU {base_cpu:.1f} ms)\n"
        )
        print(
            "each cell: median wall time, CPU time, and wall time over the baseline; then the"
            " CPU time of the same query reading every session instead of the roll-ups\n"
        )
        print("| query (last 30 days) | " + " | ".join(scopes) + " |")
        print("|---|" + "---|" * len(scopes))
        worst = 0.0
        queries: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            f"calls_report by {d}": (
                lambda scope, d=d: reports.calls_report(db, dimension=d, **scope, **rng)
            )
            for d in reports.DIMENSIONS
        }
        for dims in (("keyword", "source", "match_type"), ("campaign", "ad_group", "keyword")):
            queries[f"breakdown {' × '.join(dims)}"] = lambda scope, dims=dims: (
                report_dimensions.breakdown(db, dimensions=dims, **scope, **rng)
            )
        queries["totals"] = lambda scope: reports.totals(db, **scope, **rng)
        queries["calls_by_day (channel)"] = lambda scope: reports.calls_by_day(
            db, timezone="Asia/Tokyo", **scope, **rng
        )
        queries["calls_by_hour (heat map)"] = lambda scope: report_tables.calls_by_hour(
            db, timezone="Asia/Tokyo", **scope, **rng
        )
        queries["answer_rates (per branch)"] = lambda scope: report_tables.answer_rates(
            db, **scope, **rng
        )
        queries["calls_per_key (sources chart)"] = lambda scope: report_tables.calls_per_key(
            db, dimension="source", **scope, **rng
        )

        default = ("keyword", "source", "match_type")

        async def page(scope: dict[str, Any], limit: int | None = PAGE_ROWS) -> None:
            """What the dashboard's default reports page reads (one after the other), and
            its report table laid out and rendered (the first PAGE_ROWS rows)."""
            rows = await report_dimensions.breakdown(db, dimensions=default, **scope, **rng)
            report_html(rows, await reports.totals(db, **scope, **rng), default, limit)
            await reports.calls_by_day(db, timezone="Asia/Tokyo", **scope, **rng)
            await report_tables.calls_per_key(db, dimension="source", **scope, **rng)
            await report_tables.calls_by_hour(db, timezone="Asia/Tokyo", **scope, **rng)
            await report_tables.answer_rates(db, **scope, **rng)

        queries[f"reports page (default, every query, report HTML of {PAGE_ROWS:,} rows)"] = page
        queries["reports page, every row (rows=all)"] = lambda scope: page(scope, None)
        queries["advertiser_summary"] = lambda scope: reports.advertiser_summary(
            db, advertiser_id=scope["advertiser_id"], **rng
        )
        for name, query in queries.items():
            cells = []
            runs = 3 if name.endswith("(rows=all)") else 5  # seconds each
            for scope in scopes.values():
                ms, cpu = await timed(lambda q=query, s=scope: q(s), runs)
                worst = max(worst, ms)
                cell = f"{ms:.0f} ms, CPU {cpu:.0f} ms (×{ms / base:.0f})"
                if not args.no_rollups:
                    # The same query reading every session, right after: the roll-ups' gain
                    # measured under the same load.
                    rollups.READ = False
                    try:
                        _, raw_cpu = await timed(lambda q=query, s=scope: q(s), runs)
                    finally:
                        rollups.READ = True
                    cell += f"; raw CPU {raw_cpu:.0f} ms"
                cells.append(cell)
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\nslowest: {worst:.0f} ms (target: under {TARGET_MS} ms)")
        if hasattr(os, "getloadavg"):
            print("load average during the run: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    finally:
        await db.close()
        folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
