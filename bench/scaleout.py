"""Scale-out benchmark: ``POST /v1/session`` against a bare endpoint on the same server.

Three set-ups, each on a fresh database seeded with one site whose pool holds 500 numbers
(leases of 1 s, no cooldown, so numbers keep changing hands; an overflow number behind):

1. SQLite, one app instance;
2. PostgreSQL, one app instance;
3. PostgreSQL, three app instances sharing the database (the load generator spreads
   requests round robin, as a load balancer would).

Every app instance is a real uvicorn process running the callpath app with one extra route,
``POST /__bare``, a bare Starlette endpoint that reads the body and answers a small JSON:
the baseline for the same server, middleware and load generator. For each set-up the bare
endpoint and the session endpoint take the same number of requests at the same concurrency,
in four alternating rounds (the machine is shared: alternation spreads changes of its load
over both), from an asyncio/httpx load generator (127.0.0.1 only, bounded in count and
time), each request a new visitor (its own ``X-Forwarded-For`` from 198.18.0.0/15).
Printed: requests/s and p50/p99 latency of both, and session/bare as ratios (target:
session throughput at least 50 % of bare).

    python -m bench.scaleout [--requests 800] [--concurrency 32] [--skip-postgresql]

PostgreSQL: ``CALLPATH_BENCH_PG_URL`` (else ``CALLPATH_TEST_PG_URL``, else the local server
on 127.0.0.1:5432 as user postgres); a database ``callpath_bench_<hex>`` is created from
template0 and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from bench._load import BROWSER_UA, LoadResult, post_many

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 4
BODY = orjson.dumps(
    {
        "site": "bench",
        "url": "http://127.0.0.1/landing?gclid=bench-click&utm_source=google&utm_medium=cpc",
        "referrer": "https://www.google.com/",
        "title": "Landing",
    }
)


def serve(port: int) -> None:
    """Child mode: the callpath app plus ``POST /__bare`` under uvicorn on 127.0.0.1."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from backend.app import create_app
    from backend.settings import Settings

    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"token": "", "swaps": [], "ttl": 0, "heartbeat": 60})

    app = create_app(Settings.load(log_level="warning"))
    app.router.routes.insert(0, Route("/__bare", bare, methods=["POST"]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    """One app process."""

    proc: subprocess.Popen[bytes]
    url: str


def start_instances(database_url: str, count: int) -> list[Instance]:
    """Start ``count`` app processes on one database and wait until each answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPATH_")}
    env.update(
        {
            "CALLPATH_DATABASE_URL": database_url,
            "CALLPATH_SECRET_KEY": "bench-secret",
            "PYTHONPATH": str(ROOT),
        }
    )
    instances = []
    for _ in range(count):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.scaleout", "--serve", str(port)],
            env=env,
            cwd=ROOT,
            # Errors show up as non-200 counts in the report; tracebacks would drown it.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        instances.append(Instance(proc, f"http://127.0.0.1:{port}"))
    deadline = time.monotonic() + 60
    for inst in instances:
        while True:
            if inst.proc.poll() is not None:
                stop_instances(instances)
                raise RuntimeError(f"an app instance exited with {inst.proc.returncode}")
            try:
                if httpx.get(inst.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                stop_instances(instances)
                raise RuntimeError("app instances did not start in time")
            time.sleep(0.1)
    return instances


def stop_instances(instances: list[Instance]) -> None:
    """Stop every app process we started (SIGTERM, then SIGKILL)."""
    for inst in instances:
        if inst.proc.poll() is None:
            inst.proc.terminate()
    for inst in instances:
        try:
            inst.proc.wait(10)
        except subprocess.TimeoutExpired:
            inst.proc.kill()
            inst.proc.wait(5)


async def seed(database_url: str) -> None:
    """Migrate the database and create the benchmark site and its pool of 500 numbers."""
    from backend import accounts
    from backend.storage import open_database
    from pool import numbers
    from pool.store import now_ms

    db = await open_database(database_url)
    try:
        t = now_ms()
        async with db.write() as tx:
            adv = await accounts.create_advertiser(tx, "Bench", t)
            site = await accounts.create_site(
                tx,
                advertiser_id=adv,
                site_key="bench",
                name="Bench",
                domains=["127.0.0.1"],
                now_ms=t,
            )
            target = await accounts.add_target(
                tx, site_id=site, number="+81355550000", label="main", now_ms=t
            )
            pool_id = await numbers.create_pool(
                tx,
                site_id=site,
                target_id=target,
                name="main",
                ttl_ms=numbers.MIN_TTL_MS,
                grace_ms=0,
                cooldown_ms=0,
                now_ms=t,
            )
            # Leases of one second (shorter than the product allows) keep numbers moving.
            await tx.execute("UPDATE pools SET ttl_ms = 1000 WHERE id = :p", {"p": pool_id})
            for i in range(500):
                await numbers.add_number(
                    tx,
                    advertiser_id=adv,
                    number=f"+8150190{i:05d}",
                    forward_to="+81355550000",
                    site_id=site,
                    pool_id=pool_id,
                    now_ms=t,
                )
            await numbers.add_number(
                tx,
                advertiser_id=adv,
                number="+815019099999",
                forward_to="+81355550000",
                kind="overflow",
                site_id=site,
                pool_id=pool_id,
                now_ms=t,
            )
    finally:
        await db.close()


def pg_admin_url() -> str:
    """The PostgreSQL server the benchmark may create a database on."""
    return (
        os.environ.get("CALLPATH_BENCH_PG_URL")
        or os.environ.get("CALLPATH_TEST_PG_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_admin_url(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Scenario:
    """Results of one set-up."""

    name: str
    bare: LoadResult
    session: LoadResult
    tracked: float

    def row(self) -> str:
        ratio = self.session.rps / self.bare.rps if self.bare.rps else 0.0
        p99 = self.session.p(0.99) / self.bare.p(0.99) if self.bare.latencies else 0.0
        return (
            f"| {self.name} | {self.bare.rps:,.0f} | {self.session.rps:,.0f} | {ratio:.0%} |"
            f" {self.bare.p(0.5):.1f} / {self.bare.p(0.99):.1f} |"
            f" {self.session.p(0.5):.1f} / {self.session.p(0.99):.1f} | {p99:.1f}x |"
            f" {self.tracked:.0%} |"
        )


async def run_scenario(
    name: str, database_url: str, count: int, requests: int, concurrency: int
) -> Scenario:
    """Seed, start ``count`` instances, load the bare then the session endpoint, stop."""
    await seed(database_url)
    instances = await asyncio.to_thread(start_instances, database_url, count)
    try:
        urls = [i.url for i in instances]
        # Warm-up: connections, caches, prepared statements.
        await post_many(urls, "/__bare", BODY, total=200, concurrency=concurrency)
        await post_many(urls, "/v1/session", BODY, total=200, concurrency=concurrency)
        # Rounds alternate bare and session, so that a change in the machine's load (it is
        # shared) falls on both alike and the ratio stays meaningful.
        bare, session = LoadResult(), LoadResult()
        per_round = max(1, requests // ROUNDS)
        for _ in range(ROUNDS):
            bare.add(
                await post_many(
                    urls, "/__bare", BODY, total=per_round, concurrency=concurrency, deadline_s=60
                )
            )
            session.add(
                await post_many(
                    urls,
                    "/v1/session",
                    BODY,
                    total=per_round,
                    concurrency=concurrency,
                    deadline_s=90,
                    keep_bodies=True,
                )
            )
    finally:
        await asyncio.to_thread(stop_instances, instances)
    for result, what in ((bare, "bare"), (session, "session")):
        bad = {k: v for k, v in result.statuses.items() if k != 200}
        if bad or result.errors:
            print(f"  {name} {what}: non-200 {bad}, transport errors {result.errors}")
    tracked = sum(1 for b in session.bodies if b.get("swaps")) / max(1, len(session.bodies))
    return Scenario(name, bare, session, tracked)


async def main_async(requests: int, concurrency: int, postgresql: bool) -> list[Scenario]:
    """Run every set-up; return the results."""
    results = []
    with tempfile.TemporaryDirectory(prefix="callpath-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results.append(await run_scenario("SQLite, 1 instance", url, 1, requests, concurrency))
    if not postgresql:
        return results
    for count in (1, 3):
        name = f"callpath_bench_{secrets.token_hex(6)}"
        await _admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            parts = urlsplit(pg_admin_url())
            url = urlunsplit((parts.scheme, parts.netloc, "/" + name, "pool_max=10", ""))
            label = f"PostgreSQL, {count} instance{'s' if count > 1 else ''}"
            results.append(await run_scenario(label, url, count, requests, concurrency))
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    postgresql = not args.skip_postgresql
    if postgresql:
        try:
            asyncio.run(_admin("SELECT 1"))
        except Exception as exc:  # any failure to connect means "no server"
            print(f"PostgreSQL at {pg_admin_url()} not reachable ({exc}); SQLite only")
            postgresql = False
    results = asyncio.run(main_async(args.requests, args.concurrency, postgresql))
    print(
        f"{args.requests} requests per endpoint, {args.concurrency} at a time, each a new"
        f" visitor; client {BROWSER_UA[:11]}…; {os.cpu_count()} CPUs shared with the load"
        " generator"
    )
    print()
    print(
        "| set-up | bare req/s | session req/s | session/bare | bare p50 / p99 ms"
        " | session p50 / p99 ms | p99 ratio | visits tracked |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(r.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
