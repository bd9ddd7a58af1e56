"""A small asyncio load generator for the storage tests and the scale-out benchmark.

Only loopback addresses; bounded by a request count and a deadline.
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


@dataclass
class LoadResult:
    """What a load run saw: status counts, latencies (seconds) and the JSON bodies kept."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0


async def post_many(
    urls: Sequence[str],
    path: str,
    body: bytes,
    *,
    total: int,
    concurrency: int,
    deadline_s: float = 120.0,
    keep_bodies: bool = False,
) -> LoadResult:
    """POST ``body`` to ``path`` ``total`` times, spread round robin over ``urls``."""
    for url in urls:
        assert url.startswith(("http://127.", "http://localhost")), url
    result = LoadResult()
    targets = itertools.cycle(urls)
    remaining = itertools.count()
    stop_at = time.monotonic() + deadline_s
    headers = {"content-type": "text/plain", "user-agent": BROWSER_UA}

    async def worker(client: httpx.AsyncClient) -> None:
        while next(remaining) < total and time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                r = await client.post(next(targets) + path, content=body, headers=headers)
            except httpx.HTTPError:
                result.errors += 1
                continue
            result.latencies.append(time.perf_counter() - start)
            result.statuses[r.status_code] += 1
            if keep_bodies and r.status_code == 200:
                result.bodies.append(r.json())

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - began
    return result
