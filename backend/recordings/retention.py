"""Retention per advertiser: recordings older than the advertiser's period are deleted.

``advertisers.recording_retention_days`` (0: kept) counts from the call's start. The files
(original and mp3) are deleted from the storage, the row is marked ``deleted`` (so the
link, the player and the API no longer offer it, and it is never fetched again), and the
call's audit trail says when and what, under the actor ``retention``. Transcripts, already
masked of numbers, stay with the call (docs/privacy.md).
"""

from __future__ import annotations

import logging

from backend.recordings.storage import RecordingStorage
from pool.store import Store

log = logging.getLogger("callpath.recordings")
DAY_MS = 86_400_000
BATCH = 200
MAX_DAYS = 3650  # the longest period that can be set (0: kept)


def valid_days(days: object) -> bool:
    """Whether ``days`` is a period that can be set: a whole number from 0 to MAX_DAYS."""
    return isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= MAX_DAYS


async def retention_days(db: Store, advertiser_id: int) -> int | None:
    """The advertiser's period in days (0: kept), None without such an advertiser."""
    days = await db.fetchval(
        "SELECT recording_retention_days FROM advertisers WHERE id = :a", {"a": advertiser_id}
    )
    return None if days is None else int(days)


async def set_retention(db: Store, advertiser_id: int, days: int) -> bool:
    """Set the advertiser's period (checked by :func:`valid_days`); False without such an
    advertiser. Recordings past it go at the next round of the recording jobs."""
    if not valid_days(days):
        raise ValueError(f"a period is 0 to {MAX_DAYS} days")
    async with db.write() as tx:
        changed = await tx.execute(
            "UPDATE advertisers SET recording_retention_days = :d WHERE id = :a",
            {"d": days, "a": advertiser_id},
        )
    return bool(changed)


async def purge(db: Store, storage: RecordingStorage, *, now: int) -> int:
    """Delete the recordings past their advertiser's period; how many were deleted."""
    rows = await db.fetchall(
        "SELECT r.id, r.call_id, r.original_key, r.mp3_key, a.recording_retention_days AS days"
        " FROM recordings r JOIN calls c ON c.id = r.call_id"
        " JOIN advertisers a ON a.id = c.advertiser_id"
        " WHERE r.status = 'stored' AND a.recording_retention_days > 0"
        f" AND c.started_ms + CAST(a.recording_retention_days AS BIGINT) * {DAY_MS} < :now"
        " ORDER BY r.id LIMIT :n",
        {"now": now, "n": BATCH},
    )
    for row in rows:
        # Files first: a crash between the two leaves a row to delete again, never a file
        # that nothing points to.
        for key in {row["original_key"], row["mp3_key"]} - {""}:
            await storage.delete(key)
        async with db.write() as tx:
            await tx.execute(
                "UPDATE recordings SET status = 'deleted', deleted_ms = :t WHERE id = :id",
                {"t": now, "id": row["id"]},
            )
            await tx.execute(
                "INSERT INTO call_audit (call_id, at_ms, actor, field, before, after)"
                " VALUES (:c, :t, 'retention', 'recording', :b, :a)",
                {
                    "c": row["call_id"],
                    "t": now,
                    "b": row["original_key"],
                    "a": f"deleted after {row['days']} days",
                },
            )
    if rows:
        log.info("retention deleted %d recordings", len(rows))
    return len(rows)
