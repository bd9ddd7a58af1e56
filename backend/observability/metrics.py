"""Prometheus metrics of one app: a registry of its own, cheap counts on the hot paths,
and the state collector (``backend.observability.state``) for everything else.

Counted as it happens, each a pre-resolved child (a locked add, well under a
microsecond): visits by outcome, the telephony webhooks' latency, the latency of storage
units of work, calls created by match method. Read at scrape time: everything that is
state (leases, backlogs, the write-ahead log, failures). The registry is the app's own,
not the library's global one: a process may build several apps (the test suite does),
and a worker process of ``callpath serve --workers N`` has its own app and so its own
figures (docs/operations.md, Metrics).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric, SummaryMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from attribution.ingest import DEFAULT_STEPS
from backend.observability.state import StateCollector

# What became of a `POST /v1/session`: a number shown (`tracked`), no number although the
# visit was kept (`untracked`: no pool, pool exhausted with the 'original' policy),
# `dropped` (a bot, a foreign origin, a flood; reasons in callpath_ingest_drops_total),
# `unknown_site` (404), `storage_trouble` (answered untracked: storage too slow or failing).
VISIT_OUTCOMES = ("tracked", "untracked", "dropped", "unknown_site", "storage_trouble")
WEBHOOK_PATHS = (
    "/twilio/voice",
    "/twilio/code",
    "/twilio/status",
    "/twilio/dial",
    "/twilio/recording",
    "/twilio/whisper",
    "/webhooks/calls",
)
OTHER = "other"
# Twilio waits 15 s at most; a voice answer should take milliseconds.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
STORAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORAGE_KINDS = ("transact", "write")


class _StepCollector(Collector):
    """The ingest pipeline's time per step, as a summary (count and sum) at each scrape."""

    def __init__(self, totals: dict[str, list[Any]]) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        family = SummaryMetricFamily(
            "callpath_ingest_step_seconds",
            "Time each step of the ingest pipeline (attribution.ingest.DEFAULT_STEPS) took"
            " for the visits of this process, by step; a dropped visit stops at its step.",
            labels=["step"],
        )
        for step, (count, total) in self.totals.items():
            family.add_metric([step], count, total)
        yield family


class Metrics:
    """The metrics of one app; ``app.state.metrics``."""

    def __init__(self, *, role: str, store: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        info = Gauge(
            "callpath_process_info",
            "This process: its role and store kind, and its pid (with --workers N, scrapes"
            " reach whichever worker takes the connection).",
            ["role", "store", "pid"],
            registry=r,
        )
        info.labels(role, store, str(os.getpid())).set(1)
        visits = Counter(
            "callpath_visits",
            "POST /v1/session answers of this process by outcome.",
            ["outcome"],
            registry=r,
        )
        self._visits = {o: visits.labels(o) for o in VISIT_OUTCOMES}
        webhooks = Histogram(
            "callpath_webhook_seconds",
            "Time to answer a telephony webhook in this process, by path (answers with an"
            " error status are counted in callpath_webhook_refused_total instead).",
            ["path"],
            buckets=WEBHOOK_BUCKETS,
            registry=r,
        )
        self._webhooks = {p: webhooks.labels(p) for p in (*WEBHOOK_PATHS, OTHER)}
        self._refused = Counter(
            "callpath_webhook_refused",
            "Telephony webhooks of this process answered with an error, by path and status"
            " (403: a signature that does not match, as after a changed auth token).",
            ["path", "status"],
            registry=r,
        )
        storage = Histogram(
            "callpath_storage_unit_seconds",
            "Time a unit of work took in this process, waiting for the store included:"
            " transact (a visit, a heartbeat, a claim) or write (calls, settings, imports).",
            ["kind"],
            buckets=STORAGE_BUCKETS,
            registry=r,
        )
        self._storage = {k: storage.labels(k) for k in STORAGE_KINDS}
        # Plain sums, not a Histogram: nine observations a visit on the hottest path cost
        # about 30 µs as a Histogram (a lock each), a tenth of that as additions.
        self._steps = {spec.name: [0, 0.0] for spec in DEFAULT_STEPS}
        r.register(_StepCollector(self._steps))
        self._calls = Counter(
            "callpath_calls_created",
            "Calls this process created, by how they were matched to a visit.",
            ["match_method"],
            registry=r,
        )
        self.state = StateCollector()
        r.register(self.state)

    def watch(self, app_state: Any) -> None:
        """Read the state of this app (its ``app.state``) at each scrape."""
        self.state.state = app_state

    def visit(self, outcome: str) -> None:
        """Count one answered visit (``outcome``: one of :data:`VISIT_OUTCOMES`)."""
        self._visits[outcome].inc()

    def webhook(self, path: str, status: int, seconds: float) -> None:
        """Observe one webhook answer's time, or count it refused (an error status, or no
        answer at all): refusals are quick and would hide slow answers in the quantiles."""
        known = path if path in self._webhooks else OTHER
        if 0 < status < 400:
            self._webhooks[known].observe(seconds)
        else:
            self._refused.labels(known, str(status)).inc()

    def storage_unit(self, kind: str, seconds: float) -> None:
        """Observe one unit of work's time (the stores call this: ``Store.on_unit``)."""
        child = self._storage.get(kind)
        if child is not None:
            child.observe(seconds)

    def ingest_step(self, step: str, seconds: float) -> None:
        """Observe one ingest step's time (``Pipeline.on_step``; steps outside the default
        list are not kept)."""
        totals = self._steps.get(step)
        if totals is not None:
            totals[0] += 1
            totals[1] += seconds

    def call_created(self, match_method: str) -> None:
        """Count a call created, by match method."""
        self._calls.labels(match_method[:40] or "none").inc()

    async def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition (text format, or OpenMetrics when ``accept`` asks) and its type."""
        await self.state.refresh()
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
