"""Attribution ingest costs: User-Agent parsing with and without the LRU cache, and the
whole pipeline against a plain insert of the same session and page view.

Run: ``python -m bench.attribution``. Prints ratios against baselines measured in the same
run (absolute numbers depend on the machine; ratios much less).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

from user_agents import parse

from attribution.devices import parse_user_agent
from attribution.ingest import IngestConfig, Pipeline, Visit
from attribution.sources import classify
from backend.demo import seed_demo
from backend.settings import Settings
from backend.storage import open_database

VERSIONS = range(100, 140)
AGENTS = [
    *(
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        f" Chrome/{v}.0.0.0 Safari/537.36"
        for v in VERSIONS
    ),
    *(
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v % 7} like Mac OS X) AppleWebKit/605.1.15"
        f" (KHTML, like Gecko) Version/17.{v % 7} Mobile/15E148 Safari/604.1"
        for v in VERSIONS
    ),
]
URLS = [
    "https://127.0.0.1/?gclid=abc&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85&matchtype=e",
    "https://127.0.0.1/?yclid=YSS.1&keyword=x",
    "https://127.0.0.1/",
]
REFS = ["https://www.google.co.jp/", "https://search.yahoo.co.jp/", ""]


def _rate(fn: object, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)  # type: ignore[operator]
    return n / (time.perf_counter() - start)


def bench_user_agents(n: int = 3000) -> tuple[float, float]:
    rng = random.Random(1)
    # Real traffic is skewed: a few strings make up most visits.
    mix = [AGENTS[min(int(rng.expovariate(0.1)), len(AGENTS) - 1)] for _ in range(n)]
    uncached = _rate(lambda i: parse(mix[i]), n)
    parse_user_agent.cache_clear()
    cached = _rate(lambda i: parse_user_agent(mix[i]), n)
    return uncached, cached


async def bench_pipeline(n: int = 200, rounds: int = 3) -> tuple[float, float]:
    """Best-of-rounds rates, the baseline and the pipeline alternating (shared machines)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'b.db'}", secret_key="bench")
        db = await open_database(settings.database_url)
        try:
            await seed_demo(db, settings)
            site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
            pipeline = Pipeline(db, IngestConfig("bench"))
            # Drop the lease step: leasing is the pool's cost, not ingest's.
            pipeline.steps = [(k, s) for k, s in pipeline.steps if k != "lease"]
            baseline = full = 0.0
            for r in range(rounds):
                start = time.perf_counter()
                for i in range(n):
                    async with db.write() as tx:
                        sid = await tx.fetchval(
                            "INSERT INTO sessions (site_id, started_ms, last_seen_ms)"
                            " VALUES (:s, :t, :t) RETURNING id",
                            {"s": site_id, "t": i},
                        )
                        await tx.execute(
                            "INSERT INTO page_views (session_id, ts_ms, url) VALUES (:s, :t, :u)",
                            {"s": sid, "t": i, "u": URLS[i % 3]},
                        )
                baseline = max(baseline, n / (time.perf_counter() - start))
                start = time.perf_counter()
                for i in range(n):
                    visit = Visit(
                        "demo",
                        URLS[i % 3],
                        1_767_225_600_000 + r * n + i,
                        referrer=REFS[i % 3],
                        user_agent=AGENTS[i % len(AGENTS)],
                        ip=f"81.2.69.{i % 250}",
                    )
                    # A browser sends Accept-Language; bot filters may look for it.
                    visit.__dict__["accept_language"] = "ja,en;q=0.8"
                    outcome = await pipeline.run(visit)
                    assert outcome.dropped is None, outcome.dropped
                full = max(full, n / (time.perf_counter() - start))
        finally:
            await db.close()
    return baseline, full


def main() -> None:
    uncached, cached = bench_user_agents()
    print(f"user-agent parsing: {uncached:,.0f}/s uncached, {cached:,.0f}/s with the LRU cache")
    print(f"  ratio cached / uncached: {cached / uncached:.1f}x")
    n = 3000
    rate = _rate(lambda i: classify(URLS[i % 3], REFS[i % 3]), n)
    print(f"source classification: {rate:,.0f} visits/s")
    baseline, full = asyncio.run(bench_pipeline())
    print(
        f"ingest pipeline without leasing: {full:,.0f} visits/s; plain session + page view"
        f" insert: {baseline:,.0f}/s; ratio {full / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
