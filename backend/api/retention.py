"""Retention: purge sessions and page views older than ``CALLPATH_RETENTION_DAYS``.

The server runs it periodically (:mod:`backend.api.jobs`); ``callpath purge`` runs it once.
"""

from __future__ import annotations

import logging

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
