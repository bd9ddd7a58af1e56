"""Benchmark: export the session-to-call paths of 100,000 and 1,000,000 calls.

Run as ``python -m bench.export`` (``--sizes 100000,1000000``, ``--repeat 3`` to keep the
fastest of three runs of each timing). Each size gets its own SQLite
file (one call per session, three pages before each call) and each export (wide CSV, wide
NDJSON) runs in a fresh child process, so its peak RSS is its own. Printed per size and
format: seconds, calls per second, the time against a bare scan of the export's own query
(its rows read and dropped, measured in the same run), peak RSS and the Python heap peak
(tracemalloc, in a second child run), and the ratios against the smallest size measured in
the same run: time should grow with the size, memory should not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

BASE_MS = 1_780_000_000_000
FORMATS = ("csv", "ndjson")


def seed(path: Path, n: int) -> None:
    """A database with ``n`` sessions, 3 page views and one call each (sqlite3, fast)."""
    from attribution.touch import COPY_FROM_SESSIONS
    from backend.storage import open_database

    async def migrate() -> None:
        db = await open_database(f"sqlite:///{path}")
        await db.close()

    asyncio.run(migrate())
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("INSERT INTO advertisers (id, name, created_ms) VALUES (1, 'Bench', 0)")
    con.execute(
        "INSERT INTO sites (id, advertiser_id, site_key, name, created_ms)"
        " VALUES (1, 1, 'bench', 'Bench', 0)"
    )
    rnd = random.Random(7)
    sources = [("google", "cpc", "gclid"), ("yahoo", "cpc", "yclid"), ("(direct)", "", "")]

    def sessions() -> Iterator[tuple[object, ...]]:
        for i in range(1, n + 1):
            src, med, click = sources[i % 3]
            t = BASE_MS + i * 1000
            yield (
                i,
                1,
                t,
                t + 120_000,
                src,
                med,
                f"campaign-{i % 50}",
                f"キーワード {i % 500}",
                f"Cj0K{i:012d}" if click == "gclid" else "",
                f"YSS.{i:012d}" if click == "yclid" else "",
                ("mobile", "desktop")[i % 2],
                "JP",
                "Tokyo",
                "Shinjuku",
                f"https://bench.example/?p={i % 1000}",
            )

    con.executemany(
        "INSERT INTO sessions (id, site_id, started_ms, last_seen_ms, source, medium, campaign,"
        " keyword, gclid, yclid, device, country, region, city, landing_url)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sessions(),
    )

    def pages() -> Iterator[tuple[object, ...]]:
        for i in range(1, n + 1):
            t = BASE_MS + i * 1000
            for step in range(3):
                yield (i, t + step * 30_000, f"https://bench.example/page/{rnd.randrange(200)}")

    con.executemany(
        "INSERT INTO page_views (session_id, ts_ms, url, title) VALUES (?, ?, ?, 'Page')", pages()
    )

    def calls() -> Iterator[tuple[object, ...]]:
        for i in range(1, n + 1):
            t = BASE_MS + i * 1000 + 100_000
            yield (i, f"CA{i:032d}", f"+8190{i:08d}", t, i, t, t)

    con.executemany(
        "INSERT INTO calls (id, provider, provider_call_id, advertiser_id, site_id,"
        " tracking_number, caller, started_ms, status, duration_s, talk_s, session_id,"
        " match_method, match_candidates, qualified, first_time, created_ms, updated_ms)"
        " VALUES (?, 'twilio', ?, 1, 1, '+815017000001', ?, ?, 'completed', 90, 80, ?,"
        " 'lease', 1, 1, 1, ?, ?)",
        calls(),
    )
    # The export reads the touch frozen on each call, as telephony stores it.
    con.execute(COPY_FROM_SESSIONS)
    con.commit()
    con.close()


async def export(path: Path, trace: bool, fmt: str = "csv") -> dict[str, float]:
    """Export every call (wide form) to nowhere; time, bytes, rows and memory peaks."""
    from attribution.exports import ExportFilter, stream_paths
    from backend.storage import open_database

    db = await open_database(f"sqlite:///{path}", migrate=False)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    size = 0
    try:
        async for chunk in stream_paths(db, ExportFilter(0, 2**53), fmt=fmt):
            size += len(chunk)
    finally:
        await db.close()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "bytes": size, "heap_peak": peak, "rss_peak": rss_kb * 1024}


async def scan(path: Path) -> float:
    """The baseline: the export's query, its rows read as the export reads them and
    dropped."""
    from attribution.exports import _BATCH, ORDER, wide_sql
    from backend.storage import open_database

    db = await open_database(f"sqlite:///{path}", migrate=False)
    started = time.perf_counter()
    async for _ in db.iterate_values(wide_sql(db.dialect) + ORDER, batch=_BATCH):
        pass
    await db.close()
    return time.perf_counter() - started


def child(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.export", *args], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def fastest(args: list[str], times: int) -> dict[str, float]:
    """The fastest of ``times`` child runs (on a shared machine the others waited)."""
    return min((child(args) for _ in range(max(1, times))), key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each timing N times and keep the fastest"
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DB", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, db, _ = args.child
        if mode == "scan":
            print(json.dumps({"seconds": asyncio.run(scan(Path(db)))}))
        else:
            kind, fmt = mode.split("-")
            print(json.dumps(asyncio.run(export(Path(db), trace=kind == "trace", fmt=fmt))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"bench-{n}.db"
            t = time.perf_counter()
            seed(path, n)
            print(f"seeded {n:,} sessions in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            base = fastest(["--child", "scan", str(path), str(n)], args.repeat)
            for fmt in FORMATS:
                plain = fastest(["--child", f"plain-{fmt}", str(path), str(n)], args.repeat)
                traced = child(["--child", f"trace-{fmt}", str(path), str(n)])
                rows.append((n, fmt, plain, traced, base))
            path.unlink()
    print(
        "| calls | format | seconds | calls/s | bare scan calls/s | vs bare scan | output MB"
        " | peak RSS MB | heap peak MB |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, fmt, plain, traced, base in rows:
        print(
            f"| {n:,} | {fmt} | {plain['seconds']:.1f} | {n / plain['seconds']:,.0f} |"
            f" {n / base['seconds']:,.0f} | {plain['seconds'] / base['seconds']:.2f}x |"
            f" {plain['bytes'] / 1e6:,.0f} | {plain['rss_peak'] / 2**20:.0f} |"
            f" {traced['heap_peak'] / 2**20:.2f} |"
        )
    for fmt in FORMATS:
        first = next(r for r in rows if r[1] == fmt)
        for n, _, plain, traced, _ in [r for r in rows if r[1] == fmt][1:]:
            print(
                f"\n{fmt}, {n:,} vs {first[0]:,} calls: size x{n / first[0]:.0f},"
                f" time x{plain['seconds'] / first[2]['seconds']:.2f},"
                f" peak RSS x{plain['rss_peak'] / first[2]['rss_peak']:.2f},"
                f" heap peak x{traced['heap_peak'] / first[3]['heap_peak']:.2f}"
            )


if __name__ == "__main__":
    main()
