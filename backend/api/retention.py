"""The retention job: purge sessions and page views older than ``CALLPATH_RETENTION_DAYS``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from attribution.exports import PurgeResult, purge_older_than
from pool.store import Store, now_ms

log = logging.getLogger("callpath.retention")
DAY_MS = 86_400_000


async def purge(db: Store, retention_days: int, *, now: int | None = None) -> PurgeResult | None:
    """Purge what is older than the retention; None when retention is 0 (keep forever)."""
    if retention_days <= 0:
        return None
    cutoff = (now_ms() if now is None else now) - retention_days * DAY_MS
    result = await purge_older_than(db, cutoff_ms=cutoff)
    if result.sessions:
        log.info(
            "retention: purged %d sessions, %d page views; %d calls unlinked",
            result.sessions,
            result.page_views,
            result.calls_unlinked,
        )
    return result


async def _loop(app: Any) -> None:
    settings = app.state.settings
    while True:
        try:
            await purge(app.state.db, settings.retention_days)
        except Exception:  # a failed purge must not stop the next one
            log.exception("retention purge failed")
        await asyncio.sleep(max(1, settings.retention_interval_seconds))


@asynccontextmanager
async def retention_job(app: Any) -> AsyncIterator[None]:
    """Run the purge periodically while the app runs (nothing when retention is 0)."""
    if app.state.settings.retention_days <= 0:
        yield
        return
    task = asyncio.create_task(_loop(app), name="callpath-retention")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
