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
