"""Periodic work while the server runs: lease sweep, retention purge, GA4 pushes, the
conversion actions' direct uploads, the reports' daily roll-ups, fetching and transcribing
recordings, and the runner of durable jobs (:mod:`backend.durable`: reminders and retries
planned in the database)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from attribution import conversion_uploads, rollups
from attribution.conversions import GA4_MAX_AGE_MS, push_ga4
from attribution.outbound import OutboundPolicy
from attribution.upload_policy import UploadPolicy
from backend import durable
from backend.api.retention import purge
from pool import leases
from pool.store import Store, now_ms

log = logging.getLogger("callpath.jobs")


async def push_all_ga4(
    db: Store,
    *,
    now: int | None = None,
    policy: OutboundPolicy | None = None,
    uploads: UploadPolicy | None = None,
) -> int:
    """Push every GA4-enabled site's unsent calls of the last 72 hours; return events sent.

    ``uploads``: which matches may go (the server's ``upload_min_confidence``)."""
    now = now_ms() if now is None else now
    sent = 0
    for row in await db.fetchall("SELECT site_id FROM ga4_settings WHERE enabled = 1"):
        result = await push_ga4(
            db,
            site_id=row["site_id"],
            start_ms=now - GA4_MAX_AGE_MS,
            end_ms=now + 1,
            now_ms=now,
            policy=policy,
            uploads=uploads,
        )
        sent += result.sent
    return sent


async def _every(seconds: int, name: str, work: Callable[[], Awaitable[Any]]) -> None:
    while True:
        try:
            await work()
        except Exception:  # one failed round must not stop the next
            log.exception("%s failed", name)
        await asyncio.sleep(max(1, seconds))


def job_runner(app: Any, **changes: Any) -> durable.Runner:
    """The runner of an app's durable jobs (``changes``: e.g. a test's ``clock``)."""
    settings = app.state.settings

    def db() -> Store:
        store: Store = app.state.db
        return store

    options: dict[str, Any] = {"lease_ms": settings.jobs_lease_seconds * 1000, **changes}
    return durable.Runner(db, getattr(app.state, "job_handlers", {}), **options)


@asynccontextmanager
async def api_jobs(app: Any) -> AsyncIterator[None]:
    """Run the lease sweep, the retention purge and the GA4 push periodically (each off
    when its setting is 0)."""
    settings = app.state.settings
    db = app.state.db
    # (seconds between rounds, what the log calls it, the round, the task's name); a job
    # whose setting is 0 is off.
    jobs: list[tuple[int, str, Callable[[], Awaitable[Any]], str]] = [
        # Claims end their pool's expired leases anyway; the sweep is for quiet pools (the
        # health page's utilisation, numbers waiting to retire) and costs one statement.
        (
            settings.lease_sweep_seconds,
            "lease sweep",
            lambda: leases.sweep(db, now_ms=now_ms()),
            "callpath-lease-sweep",
        ),
        (
            settings.retention_interval_seconds if settings.retention_days > 0 else 0,
            "retention purge",
            lambda: purge(db, settings.retention_days),
            "callpath-retention",
        ),
        (
            settings.ga4_push_seconds,
            "GA4 push",
            lambda: push_all_ga4(
                db,
                policy=app.state.outbound,
                uploads=UploadPolicy(min_confidence=settings.upload_min_confidence),
            ),
            "callpath-ga4",
        ),
        (
            settings.conversion_upload_seconds,
            "conversion uploads",
            lambda: conversion_uploads.upload_all(
                db,
                now_ms=now_ms(),
                endpoints=conversion_uploads.Endpoints.from_settings(settings),
                policy=app.state.outbound,
                uploads=UploadPolicy(min_confidence=settings.upload_min_confidence),
            ),
            "callpath-conversion-uploads",
        ),
        # The reports' daily roll-ups: closed days not rolled up yet, or changed since.
        (
            settings.report_rollup_seconds,
            "report roll-ups",
            lambda: rollups.refresh(db, now=now_ms()),
            "callpath-report-rollups",
        ),
        # Recordings fetched into callpath's storage, then transcribed (issue #22).
        (
            settings.recording_jobs_seconds if app.state.recordings.storage is not None else 0,
            "recordings",
            lambda: app.state.recordings.work(db),
            "callpath-recordings",
        ),
    ]
    # Durable jobs: their handlers are registered per kind in `app.state.job_handlers`
    # (create_app); every `all` instance runs them, each job claimed by one.
    runner = job_runner(app)
    app.state.job_runner = runner
    jobs.append(
        (settings.jobs_poll_seconds, "durable jobs", runner.run_due, "callpath-durable-jobs")
    )
    tasks = [
        asyncio.create_task(_every(seconds, label, work), name=task_name)
        for seconds, label, work, task_name in jobs
        if seconds > 0
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
