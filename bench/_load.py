"""A small asyncio load generator (httpx) for the scale-out benchmark and tests.

Only loopback addresses; bounded by a request count and a deadline. Each request can carry
its own client address in ``X-Forwarded-For`` (believed from loopback by servers started
with ``CALLPATH_TRUSTED_PROXIES=127.0.0.1``, as the benchmarks' are), taken from
198.18.0.0/15, the range set aside for benchmarks, so that per-address limits see many
visitors rather than one flooding address.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)


def benchmark_address(n: int) -> str:
    """The n-th address of 198.18.0.0/15 (RFC 2544), skipping .0 and .255."""
    n %= 2 * 256 * 254
    return f"198.{18 + n // (256 * 254)}.{n // 254 % 256}.{n % 254 + 1}"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of the values, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class LoadResult:
    """What a load run saw: status counts, latencies (seconds) and the JSON bodies kept."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        """Answered requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        """Latency quantile in milliseconds."""
        return percentile(self.latencies, q) * 1000

    def add(self, other: LoadResult) -> None:
        """Fold another run (e.g. the next round) into this one."""
        self.statuses.update(other.statuses)
        self.latencies += other.latencies
        self.bodies += other.bodies
        self.errors += other.errors
        self.error_kinds.update(other.error_kinds)
        self.elapsed += other.elapsed


async def post_many(
    urls: Sequence[str],
    path: str,
    body: bytes,
    *,
    total: int,
    concurrency: int,
    deadline_s: float = 120.0,
    keep_bodies: bool = False,
    distinct_clients: bool = True,
    timeout_s: float = 30.0,
    keepalive: bool = True,
) -> LoadResult:
    """POST ``body`` to ``path`` ``total`` times, spread round robin over ``urls``."""
    for url in urls:
        assert url.startswith(("http://127.", "http://localhost")), url
    result = LoadResult()
    targets = itertools.cycle(urls)
    remaining = itertools.count()
    stop_at = time.monotonic() + deadline_s
    headers = {"content-type": "text/plain", "user-agent": BROWSER_UA, "accept-language": "ja"}

    async def worker(client: httpx.AsyncClient) -> None:
        while (n := next(remaining)) < total and time.monotonic() < stop_at:
            sent = headers
            if distinct_clients:
                sent = {**headers, "x-forwarded-for": benchmark_address(n)}
            start = time.perf_counter()
            try:
                r = await client.post(next(targets) + path, content=body, headers=sent)
            except httpx.HTTPError as exc:
                result.errors += 1
                result.error_kinds[type(exc).__name__] += 1
                continue
            result.latencies.append(time.perf_counter() - start)
            result.statuses[r.status_code] += 1
            if keep_bodies and r.status_code == 200:
                result.bodies.append(r.json())

    # Without keep-alive each request opens its own connection: slower, but a server closing
    # an idle kept-alive connection just as a request goes out cannot fail that request.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency if keepalive else 0
    )
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - began
    return result
