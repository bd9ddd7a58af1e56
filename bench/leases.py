"""Lease claims per second through ``POST /v1/session`` on a real uvicorn server.

Run ``python -m bench.leases``. The server is this module in a child process: the real app
(``create_app``) plus one bare route added only here, ``POST /v1/bench/bare``, which reads the
body and answers a small JSON document (under ``/v1`` like the session endpoint, so the
public edge treats both alike). Both are measured in the same run, same server, same
client, so the ratio says what a lease claim costs over the bare HTTP round trip.

Measured: new visits (a session is created and a number leased from a pool big enough that
no claim overflows), repeat visits (the session's token is sent again: its lease is found
and extended), a lease-only route (``POST /v1/bench/lease``: a session row and
``pool.leases.acquire``, none of the attribution pipeline) to show the pool's share, and the
bare route before and after, on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SITE = "bench"
# A visitor's browser (with Accept-Language): else the ingest pipeline drops it as a bot.
_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0 Safari/537.36"
)
TARGET = "+81312345678"


def serve(port: int, database_url: str) -> None:
    """The child: the real app plus a bare route, under uvicorn."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from backend.app import create_app
    from backend.settings import Settings

    async def bare(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True})

    async def lease_only(request: Request) -> Response:
        # The pool's share of a claim: a session row and pool.leases.acquire, nothing else.
        from pool import leases
        from pool.store import now_ms

        await request.body()
        db = request.app.state.db
        now = now_ms()
        async with db.write() as tx:
            session_id = await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms)"
                " VALUES (1, :t, :t) RETURNING id",
                {"t": now},
            )
        lease = await leases.acquire(db, pool_id=1, session_id=session_id, now_ms=now)
        return JSONResponse({"number": lease.number if lease else None})

    # Every request comes from 127.0.0.1: the per-address flood guard would refuse most.
    settings = Settings(
        database_url=database_url,
        secret_key="bench",
        log_level="warning",
        ip_rate_per_minute=0,
        ip_max_live_sessions=0,
    )
    app = create_app(settings)
    app.router.routes.insert(0, Route("/v1/bench/bare", bare, methods=["POST"]))
    app.router.routes.insert(0, Route("/v1/bench/lease", lease_only, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def seed(database_url: str, size: int) -> None:
    """One advertiser, site and pool of ``size`` numbers."""
    from backend.storage import open_database
    from backend.storage.seed import PoolSpec, SiteSpec, seed_site, series

    db = await open_database(database_url)
    try:
        pool = PoolSpec(TARGET, series("+8150", size, first=10_000_000))
        await seed_site(db, "bench", SiteSpec(SITE, name="bench", pools=[pool]))
    finally:
        await db.close()


class _Conn:
    """A bare HTTP/1.1 keep-alive connection: a client light enough not to be the bottleneck
    (httpx's async pool costs more CPU per request than the bare route it measures)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: text/plain\r\nUser-Agent: {_UA}\r\n"
            "Accept-Language: ja,en;q=0.8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _drive(
    host: str, port: int, path: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[bytes]]:
    """Send every body with ``concurrency`` connections busy; return requests/s and answers."""
    queue = list(enumerate(bodies))
    answers: list[bytes] = [b""] * len(bodies)
    conns = [_Conn(host, port) for _ in range(concurrency)]

    async def worker(conn: _Conn) -> None:
        while queue:
            i, body = queue.pop()
            status, answer = await conn.post(path, body)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
            answers[i] = answer

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    return len(bodies) / (time.perf_counter() - start), answers


def _body(token: str = "") -> bytes:
    import orjson

    return orjson.dumps(
        {"site": SITE, "url": "https://bench.example/?gclid=x", "referrer": "", "token": token}
    )


async def _round(host: str, port: int, claims: int, concurrency: int) -> dict[str, float]:
    """One round: bare route, new-visit claims, repeat visits, lease-only claims."""
    import orjson

    bare, _ = await _drive(host, port, "/v1/bench/bare", [_body()] * claims, concurrency)
    new_rate, answers = await _drive(host, port, "/v1/session", [_body()] * claims, concurrency)
    decoded = [orjson.loads(a) for a in answers]
    numbers = [d["swaps"][0]["number"] for d in decoded if d["swaps"]]
    if len(numbers) != claims or len(set(numbers)) != claims:
        raise RuntimeError("a claim did not get its own number")
    repeats = [_body(d["token"]) for d in decoded]
    repeat_rate, again = await _drive(host, port, "/v1/session", repeats, concurrency)
    kept = [orjson.loads(a)["swaps"] for a in again]
    if [k[0]["number"] if k else None for k in kept] != numbers:
        raise RuntimeError("a repeat visit did not keep its number")
    lease_rate, _ = await _drive(host, port, "/v1/bench/lease", [b"{}"] * claims, concurrency)
    return {"bare": bare, "new": new_rate, "repeat": repeat_rate, "lease": lease_rate}


async def measure(
    port: int, claims: int, concurrency: int, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median rate of each kind, and the median of each kind's per-round ratio to the bare
    route (each round measures them back to back, so they share the machine's load)."""
    host = "127.0.0.1"
    await _drive(host, port, "/v1/bench/bare", [b"{}"] * 200, concurrency)  # warm up
    results = [await _round(host, port, claims, concurrency) for _ in range(rounds)]
    rates = {k: statistics.median(r[k] for r in results) for k in results[0]}
    ratios = {k: statistics.median(r[k] / r["bare"] for r in results) for k in results[0]}
    return rates, ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leases", description=__doc__)
    parser.add_argument("--claims", type=int, default=300, help="claims per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians reported)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DB_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    from tests.support.server import free_port

    with tempfile.TemporaryDirectory(prefix="callpath-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(seed(url, 2 * args.claims * args.rounds + 10))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.leases", "--serve", str(port), url], cwd=ROOT, env=env
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.post(base + "/v1/bench/bare", content=b"{}", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("bench server did not start") from None
                    time.sleep(0.1)
            rates, ratios = asyncio.run(measure(port, args.claims, args.concurrency, args.rounds))
        finally:
            proc.terminate()
            proc.wait(10)
    print(
        f"Leases: {args.claims} claims x {args.rounds} rounds (medians),"
        f" {args.concurrency} in flight, SQLite, one uvicorn process"
    )
    labels = {
        "bare": "bare route (baseline)",
        "new": "new visit: /v1/session claim",
        "repeat": "repeat visit: /v1/session renew",
        "lease": "lease only: session row + acquire",
    }
    for kind, label in labels.items():
        print(f"  {label:<36} {rates[kind]:7.0f} req/s  ratio {ratios[kind]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
