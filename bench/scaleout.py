"""Scale-out benchmark: ``POST /v1/session`` against a bare endpoint on the same server.

Four set-ups, each on a fresh database seeded with one site whose pool holds 3,000 numbers
(leases of 1 s, no cooldown, so numbers keep changing hands; an overflow number behind):

1. SQLite, one app instance;
2. the same with uvicorn's h11 parser instead of httptools (wrk only): the baseline the
   target was first measured against, where a bare request costs twice as much;
3. PostgreSQL, one app instance;
4. PostgreSQL, three app instances sharing the database (the load generator spreads
   requests round robin, as a load balancer would).

Every app instance is a real uvicorn process running the callpath app with one extra route,
``POST /v1/__bare``, a bare Starlette endpoint that reads the body and answers a small JSON:
the baseline for the same server, middleware (it sits under ``/v1`` like the session
endpoint, so the public edge treats both alike) and load generator. For each set-up the
bare endpoint and the session endpoint are loaded at the same concurrency in four
alternating rounds (the machine is shared: alternation spreads changes of its load over
both), every request a new visitor (its own ``X-Forwarded-For`` from 198.18.0.0/15), with
the default flood guard on. The load generator is wrk (:mod:`bench._wrk`, ``--seconds`` a
round) when installed, else an asyncio/httpx one (``--requests``), which caps the baseline
on two cores; 127.0.0.1 only, bounded in time. Printed: requests/s and p50/p99 latency of
both, session/bare as ratios (target: session throughput at least 50 % of bare), and the
share of visits that got a tracking number (counted in the database afterwards). With wrk
it also prints the server's CPU time per request of each endpoint (every app process, every
thread, from ``/proc``): both loads keep the server busy, so the ratio of the two is the
throughput ratio the server's code allows, whatever the load generator does.

    python -m bench.scaleout [--seconds 3] [--concurrency 32] [--skip-postgresql]

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

from bench import _wrk
from bench._load import BROWSER_UA, LoadResult, post_many

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 4
BARE = "/v1/__bare"
NUMBERS = 3_000
BODY = orjson.dumps(
    {
        "site": "bench",
        "url": "http://127.0.0.1/landing?gclid=bench-click&utm_source=google&utm_medium=cpc",
        "referrer": "https://www.google.com/",
        "title": "Landing",
    }
)


def serve(port: int, http: str = "auto") -> None:
    """Child mode: the callpath app plus ``POST /__bare`` under uvicorn on 127.0.0.1
    (``http``: uvicorn's HTTP parser, ``auto`` being httptools when installed)."""
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
    app.router.routes.insert(0, Route(BARE, bare, methods=["POST"]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        # The app believes the load generator's X-Forwarded-For itself, from
        # CALLPATH_TRUSTED_PROXIES (start_instances); uvicorn's own resolution stays off.
        proxy_headers=False,
        http=http,
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

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far, every thread of it (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime: fields 14 and 15 of stat(5), the 12th and 13th after the name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_instances(database_url: str, count: int, http: str = "auto") -> list[Instance]:
    """Start ``count`` app processes on one database and wait until each answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPATH_")}
    env.update(
        {
            "CALLPATH_DATABASE_URL": database_url,
            "CALLPATH_SECRET_KEY": "bench-secret",
            # Every request claims its own visitor in X-Forwarded-For, from loopback.
            "CALLPATH_TRUSTED_PROXIES": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
        }
    )
    instances = []
    for _ in range(count):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.scaleout", "--serve", str(port), "--http", http],
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
    """Migrate the database and create the benchmark site and its pool of numbers."""
    from backend.storage import open_database
    from backend.storage.seed import scale, seed_site

    db = await open_database(database_url)
    try:
        # Leases of one second (shorter than the product allows) keep numbers moving.
        site = scale(NUMBERS, key="bench", ttl_ms=1000, overflow=True, name="Bench")
        await seed_site(db, "Bench", site)
        if db.dialect == "postgresql":
            # What autovacuum would do within its first minute: without statistics the
            # planner takes the new tables for empty and plans the claim for that.
            await db.execute("ANALYZE")
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
    bare: LoadResult | _wrk.WrkResult
    session: LoadResult | _wrk.WrkResult
    tracked: float
    # Server CPU seconds spent under each load (every app process; wrk runs only).
    bare_cpu_s: float = 0.0
    session_cpu_s: float = 0.0

    def cpu_row(self) -> str:
        """CPU per request on the server side, and the throughput ratio that CPU allows."""
        bare_us = 1e6 * self.bare_cpu_s / max(1, self.bare.requests)
        session_us = 1e6 * self.session_cpu_s / max(1, self.session.requests)
        ceiling = bare_us / session_us if session_us else 0.0
        return f"| {self.name} | {bare_us:,.0f} | {session_us:,.0f} | {ceiling:.0%} |"

    def row(self) -> str:
        ratio = self.session.rps / self.bare.rps if self.bare.rps else 0.0
        p99 = self.session.p(0.99) / self.bare.p(0.99) if self.bare.rps else 0.0
        return (
            f"| {self.name} | {self.bare.rps:,.0f} | {self.session.rps:,.0f} | {ratio:.0%} |"
            f" {self.bare.p(0.5):.1f} / {self.bare.p(0.99):.1f} |"
            f" {self.session.p(0.5):.1f} / {self.session.p(0.99):.1f} | {p99:.1f}x |"
            f" {self.tracked:.0%} |"
        )


async def _tracked(database_url: str) -> float:
    """The share of the run's sessions that were given a tracking number."""
    from backend.storage import open_database

    db = await open_database(database_url, migrate=False)
    try:
        sessions = await db.fetchval("SELECT COUNT(*) FROM sessions")
        leased = await db.fetchval("SELECT COUNT(DISTINCT session_id) FROM leases")
    finally:
        await db.close()
    return int(leased or 0) / max(1, int(sessions or 0))


async def _analyze(database_url: str) -> None:
    """PostgreSQL: statistics of the warmed-up tables, as autovacuum keeps them in service.

    Seeded a moment ago, ``leases`` and ``sessions`` were analyzed empty (or never): the
    planner would take them for empty and scan them whole on every claim, where a database
    in service has statistics that autovacuum refreshes as the tables grow.
    """
    if not database_url.startswith("postgresql"):
        return
    from backend.storage import open_database

    db = await open_database(database_url, migrate=False)
    try:
        await db.execute("ANALYZE")
    finally:
        await db.close()


async def run_scenario_wrk(
    name: str,
    database_url: str,
    count: int,
    seconds: float,
    concurrency: int,
    http: str = "auto",
) -> Scenario:
    """Seed, start ``count`` instances, load bare and session alternately with wrk, stop."""
    await seed(database_url)
    instances = await asyncio.to_thread(start_instances, database_url, count, http)
    bare, session = _wrk.WrkResult(), _wrk.WrkResult()
    cpu = {BARE: 0.0, "/v1/session": 0.0}
    try:
        urls = [i.url for i in instances]

        def load(path: str, secs: float, first: int) -> _wrk.WrkResult:
            before = sum(i.cpu_seconds() for i in instances)
            result = _wrk.run(
                urls, path, BODY, seconds=secs, connections=concurrency, first_address=first
            )
            cpu[path] += sum(i.cpu_seconds() for i in instances) - before
            return result

        # Warm-up: connections, caches, prepared statements.
        await asyncio.to_thread(load, BARE, 1, 0)
        await asyncio.to_thread(load, "/v1/session", 2, 0)
        await _analyze(database_url)
        cpu.update(dict.fromkeys(cpu, 0.0))  # counted from the measured rounds on
        # Rounds alternate bare and session, so that a change in the machine's load (it is
        # shared) falls on both alike and the ratio stays meaningful.
        for r in range(ROUNDS):
            bare.add(await asyncio.to_thread(load, BARE, seconds, 0))
            # Each round's visitors come from addresses no earlier round used.
            session.add(await asyncio.to_thread(load, "/v1/session", seconds, (r + 1) * 200_000))
    finally:
        await asyncio.to_thread(stop_instances, instances)
    for result, what in ((bare, "bare"), (session, "session")):
        if result.non2xx or result.errors:
            print(f"  {name} {what}: non-2xx {result.non2xx}, transport errors {result.errors}")
    tracked = await _tracked(database_url)
    return Scenario(name, bare, session, tracked, cpu[BARE], cpu["/v1/session"])


async def run_scenario(
    name: str, database_url: str, count: int, requests: int, concurrency: int
) -> Scenario:
    """Seed, start ``count`` instances, load the bare then the session endpoint, stop."""
    await seed(database_url)
    instances = await asyncio.to_thread(start_instances, database_url, count)
    try:
        urls = [i.url for i in instances]
        # Warm-up: connections, caches, prepared statements.
        await post_many(urls, BARE, BODY, total=200, concurrency=concurrency)
        await post_many(urls, "/v1/session", BODY, total=200, concurrency=concurrency)
        # Rounds alternate bare and session, so that a change in the machine's load (it is
        # shared) falls on both alike and the ratio stays meaningful.
        bare, session = LoadResult(), LoadResult()
        per_round = max(1, requests // ROUNDS)
        for _ in range(ROUNDS):
            bare.add(
                await post_many(
                    urls, BARE, BODY, total=per_round, concurrency=concurrency, deadline_s=60
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


async def main_async(
    requests: int, concurrency: int, postgresql: bool, seconds: float = 3.0
) -> list[Scenario]:
    """Run every set-up; return the results."""

    async def scenario(label: str, url: str, count: int) -> Scenario:
        if _wrk.available():
            return await run_scenario_wrk(label, url, count, seconds, concurrency)
        return await run_scenario(label, url, count, requests, concurrency)

    results = []
    with tempfile.TemporaryDirectory(prefix="callpath-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results.append(await scenario("SQLite, 1 instance", url, 1))
    if _wrk.available():
        # The same with h11, uvicorn's pure-Python parser (the default before httptools):
        # a bare request costs twice as much there, so the ratio reads higher.
        with tempfile.TemporaryDirectory(prefix="callpath-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            label = "SQLite, 1 instance, h11 parser"
            results.append(await run_scenario_wrk(label, url, 1, seconds, concurrency, "h11"))
    if not postgresql:
        return results
    for count in (1, 3):
        name = f"callpath_bench_{secrets.token_hex(6)}"
        await _admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            parts = urlsplit(pg_admin_url())
            url = urlunsplit((parts.scheme, parts.netloc, "/" + name, "pool_max=10", ""))
            label = f"PostgreSQL, {count} instance{'s' if count > 1 else ''}"
            results.append(await scenario(label, url, count))
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    parser.add_argument("--requests", type=int, default=800, help="per endpoint, httpx only")
    parser.add_argument("--seconds", type=float, default=3.0, help="per round, wrk only")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--http", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.http)
        return 0
    postgresql = not args.skip_postgresql
    if postgresql:
        try:
            asyncio.run(_admin("SELECT 1"))
        except Exception as exc:  # any failure to connect means "no server"
            print(f"PostgreSQL at {pg_admin_url()} not reachable ({exc}); SQLite only")
            postgresql = False
    results = asyncio.run(main_async(args.requests, args.concurrency, postgresql, args.seconds))
    amount = (
        f"wrk, {ROUNDS} rounds of {args.seconds:g} s per endpoint"
        if _wrk.available()
        else f"httpx, {args.requests} requests per endpoint"
    )
    print(
        f"{amount}, {args.concurrency} connections, each request a new visitor; client"
        f" {BROWSER_UA[:11]}…; {os.cpu_count()} CPUs shared with the load generator"
    )
    print()
    print(
        "| set-up | bare req/s | session req/s | session/bare | bare p50 / p99 ms"
        " | session p50 / p99 ms | p99 ratio | visits tracked |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(r.row())
    if _wrk.available():
        # Both endpoints keep the server's processes busy, so each one's throughput is its
        # CPU per request: their ratio is the throughput ratio this server code allows.
        print()
        print("server CPU per request (every app process, every thread), measured rounds:")
        print()
        print("| set-up | bare µs | session µs | bare/session |")
        print("|---|---:|---:|---:|")
        for r in results:
            print(r.cpu_row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
