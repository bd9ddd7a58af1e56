"""Figures read at scrape time: what the process and the store hold right now.

Nothing here is counted on a request's path. In-memory state (the call recorder's
backlog, storage failures, the SQLite write-ahead log's size and checkpoints, the
PostgreSQL pool) is read when ``/metrics`` is scraped; store-wide figures (leases live and
numbers per pool, exhaustions, drops by reason from ``ingest_counters``, calls of the last
hour by status and match method) come from a few cheap queries, run at most once per
:data:`STORE_MAX_AGE_S` whatever the number of scrapers, and never waited on longer than
:data:`STORE_TIMEOUT_S`: a locked or failing store leaves the last figures in place (their
age says so) and is counted as storage trouble, and ``/metrics`` still answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from attribution.ingest import drop_counts
from backend.storage.trouble import STORAGE_TROUBLE, storage_trouble
from pool.store import Store, now_ms

STORE_MAX_AGE_S = 10.0
STORE_TIMEOUT_S = 2.0
RECENT_CALLS_MS = 3_600_000

_POOLS_SQL = (
    "SELECT p.id, p.name, s.site_key, p.exhausted_count,"
    " (SELECT COUNT(*) FROM leases l WHERE l.pool_id = p.id AND l.ended_ms IS NULL"
    "  AND l.overflow = 0 AND l.expires_ms > :now) AS live,"
    " (SELECT COUNT(*) FROM tracking_numbers n WHERE n.pool_id = p.id AND n.kind = 'pool'"
    "  AND n.status = 'active') AS numbers"
    " FROM pools p JOIN sites s ON s.id = p.site_id ORDER BY p.id"
)
_CALLS_SQL = (
    "SELECT status, match_method, COUNT(*) AS n FROM calls WHERE started_ms >= :since"
    " GROUP BY status, match_method"
)


@dataclass
class StoreFigures:
    """What the last successful read of the store found."""

    pools: list[dict[str, Any]] = field(default_factory=list)
    drops: dict[str, int] = field(default_factory=dict)
    recent_calls: list[tuple[str, str, int]] = field(default_factory=list)
    read_at: float = 0.0  # time.monotonic() of that read; 0: never


async def read_store(db: Store) -> StoreFigures:
    """Read the store-wide figures (three grouped queries on indexed columns)."""
    now = now_ms()
    pools = [dict(r) for r in await db.fetchall(_POOLS_SQL, {"now": now})]
    calls = await db.fetchall(_CALLS_SQL, {"since": now - RECENT_CALLS_MS})
    return StoreFigures(
        pools=pools,
        drops=await drop_counts(db),
        recent_calls=[(str(r["status"]), str(r["match_method"]), int(r["n"])) for r in calls],
        read_at=time.monotonic(),
    )


class StateCollector(Collector):
    """Collects the app's current state; :meth:`refresh` before each scrape."""

    def __init__(self) -> None:
        # The app's `state` (set by `Metrics.watch`): its `db` and `telephony` are read at
        # each scrape, so a store reopened by a restart of the lifespan is picked up.
        self.state: Any = None
        self.figures = StoreFigures()
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the store unless the figures are fresh; never raises, never hangs."""
        if time.monotonic() - self.figures.read_at < STORE_MAX_AGE_S:
            return
        async with self._lock:
            if time.monotonic() - self.figures.read_at < STORE_MAX_AGE_S:
                return  # another scrape read it while this one waited
            db = getattr(self.state, "db", None)
            if db is None:
                return
            try:
                self.figures = await asyncio.wait_for(read_store(db), STORE_TIMEOUT_S)
            except STORAGE_TROUBLE as exc:
                storage_trouble(self.state).report("metrics", exc)

    def collect(self) -> Iterator[Metric]:
        yield from self._store_figures()
        yield from self._recorder()
        yield from self._storage()

    def _store_figures(self) -> Iterator[Metric]:
        f = self.figures
        labels = ["pool", "pool_name", "site"]
        live = GaugeMetricFamily(
            "callpath_pool_leases_live", "Live leases of the pool's own numbers.", labels=labels
        )
        numbers = GaugeMetricFamily(
            "callpath_pool_numbers", "Active numbers the pool can lease.", labels=labels
        )
        exhausted = CounterMetricFamily(
            "callpath_pool_exhausted",
            "Claims the pool could not serve with a number of its own (overflow number or the"
            " page's own number shown instead), since the pool was made.",
            labels=labels,
        )
        for p in f.pools:
            values = [str(p["id"]), str(p["name"]), str(p["site_key"])]
            live.add_metric(values, int(p["live"]))
            numbers.add_metric(values, int(p["numbers"]))
            exhausted.add_metric(values, int(p["exhausted_count"]))
        drops = CounterMetricFamily(
            "callpath_ingest_drops",
            "Visits answered without a number, by reason, all instances and days (from"
            " ingest_counters); click_id_invalid counts click ids not stored of kept visits.",
            labels=["reason"],
        )
        for reason, n in sorted(f.drops.items()):
            drops.add_metric([reason], n)
        calls = GaugeMetricFamily(
            "callpath_calls_last_hour",
            "Calls started in the last hour, by status and match method (all instances).",
            labels=["status", "match_method"],
        )
        for status, method, n in f.recent_calls:
            calls.add_metric([status, method], n)
        age = GaugeMetricFamily(
            "callpath_store_figures_age_seconds",
            "Age of the store-wide figures above (-1: never read; grows while storage fails).",
        )
        age.add_metric([], time.monotonic() - f.read_at if f.read_at else -1)
        yield from (live, numbers, exhausted, drops, calls, age)

    def _recorder(self) -> Iterator[Metric]:
        telephony = getattr(self.state, "telephony", None)
        if telephony is None:
            return
        recorder = telephony.recorder
        yield GaugeMetricFamily(
            "callpath_recorder_pending",
            "Call events answered but not yet written to storage.",
            value=recorder.pending,
        )
        yield GaugeMetricFamily(
            "callpath_recorder_oldest_age_seconds",
            "How long the oldest call event not yet written has waited (0: none waits).",
            value=recorder.oldest_age_ms() / 1000,
        )
        yield CounterMetricFamily(
            "callpath_recorder_dead_letters",
            "Call events storage kept refusing, set aside (call_dead_letters) by this process.",
            value=recorder.dead_letters,
        )
        yield GaugeMetricFamily(
            "callpath_recorder_degraded",
            "1 while the last call write failed (events wait in the queue and the call journal).",
            value=int(recorder.degraded),
        )
        yield CounterMetricFamily(
            "callpath_recorder_written", "Call events written to storage.", value=recorder.written
        )
        yield CounterMetricFamily(
            "callpath_recorder_failures",
            "Call writes that failed and were retried.",
            value=recorder.failures,
        )

    def _storage(self) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            "callpath_storage_failures",
            "Requests that met storage trouble (timeout, locked, full disk), by where.",
            labels=["where"],
        )
        trouble = storage_trouble(self.state)
        for where, n in sorted(trouble.failures.items()):
            failures.add_metric([where], n)
        yield failures
        yield GaugeMetricFamily(
            "callpath_storage_last_failure_timestamp_seconds",
            "When storage last failed a request (0: never).",
            value=trouble.last_ms / 1000,
        )
        db = getattr(self.state, "db", None)
        if db is None:
            return
        wal_bytes = getattr(db, "wal_bytes", None)
        if wal_bytes is not None:
            yield GaugeMetricFamily(
                "callpath_sqlite_wal_bytes",
                "Size of the SQLite write-ahead log.",
                value=wal_bytes(),
            )
            yield GaugeMetricFamily(
                "callpath_sqlite_wal_max_bytes",
                "The log's configured bound (CALLPATH_SQLITE_WAL_MAX_BYTES).",
                value=db.wal_max_bytes,
            )
            checkpoints = CounterMetricFamily(
                "callpath_sqlite_checkpoints",
                "Checkpoints of the write-ahead log by kind (failed: a truncate that found"
                " readers in the way and is tried again).",
                labels=["kind"],
            )
            for kind in ("passive", "truncate", "failed"):
                checkpoints.add_metric([kind], db.checkpoints.get(kind, 0))
            yield checkpoints
            yield GaugeMetricFamily(
                "callpath_sqlite_last_checkpoint_timestamp_seconds",
                "When the last checkpoint ended (0: none yet).",
                value=db.checkpoints.get("last_ms", 0) / 1000,
            )
        if db.dialect != "postgresql":
            return
        try:
            pool = db.pool
        except RuntimeError:  # closed
            return
        if pool is not None:
            yield GaugeMetricFamily(
                "callpath_pg_pool_connections", "Connections the pool holds.", value=pool.get_size()
            )
            yield GaugeMetricFamily(
                "callpath_pg_pool_idle",
                "Connections of the pool free now.",
                value=pool.get_idle_size(),
            )
            yield GaugeMetricFamily(
                "callpath_pg_pool_max", "The pool's largest size.", value=pool.get_max_size()
            )
