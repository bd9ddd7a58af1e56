"""Migration 0013 on both stores: call events recorded before it get their status from
their payload, duplicates left by replayed webhooks go (the first kept), and from then on
the same (call, kind, status) cannot be stored twice."""

from __future__ import annotations

import orjson
import pytest

from backend.storage.migrations import apply_migrations
from tests.storage.migrating import database_at

# (kind, payload) of events as the code before 0013 stored them, replays included.
EVENTS = [
    ("voice", {"CallSid": "CA1", "CallStatus": "ringing"}),
    ("voice", {"CallSid": "CA1", "CallStatus": "ringing"}),  # Twilio retried
    ("dial", {"CallSid": "CA1", "CallStatus": "in-progress", "DialCallStatus": "completed"}),
    ("dial", {"CallSid": "CA1", "CallStatus": "in-progress", "DialCallStatus": "completed"}),
    ("status", {"CallSid": "CA1", "CallStatus": "in-progress"}),
    ("status", {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "50"}),
    ("status", {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "50"}),
    ("recording", {"CallSid": "CA1", "RecordingStatus": "completed"}),
    ("end", {"call_id": "CA1", "status": "no-answer"}),
]


async def test_call_events_are_deduplicated_and_unique_from_then_on(database_url: str) -> None:
    db = await database_at(database_url, 12)
    try:
        async with db.write() as tx:
            call = await tx.fetchval(
                "INSERT INTO calls (provider, provider_call_id, tracking_number, started_ms,"
                " created_ms, updated_ms) VALUES ('twilio', 'CA1', '+815017000001', 0, 0, 0)"
                " RETURNING id"
            )
            for ts, (kind, payload) in enumerate(EVENTS):
                await tx.execute(
                    "INSERT INTO call_events (call_id, ts_ms, kind, payload)"
                    " VALUES (:c, :t, :k, :p)",
                    {"c": call, "t": ts, "k": kind, "p": orjson.dumps(payload).decode()},
                )
        applied = [m.version for m in await apply_migrations(db)]
        assert 13 in applied
        rows = await db.fetchall("SELECT ts_ms, kind, status FROM call_events ORDER BY ts_ms")
        assert [tuple(r.values()) for r in rows] == [
            (0, "voice", "ringing"),
            (2, "dial", "completed"),
            (4, "status", "in-progress"),
            (5, "status", "completed"),
            (7, "recording", "completed"),
            (8, "end", "no-answer"),
        ]
        with pytest.raises(Exception, match=r"(?i)unique"):
            await db.execute(
                "INSERT INTO call_events (call_id, ts_ms, kind, status, payload)"
                " VALUES (:c, 9, 'voice', 'ringing', '{}')",
                {"c": call},
            )
        assert await db.fetchval("SELECT COUNT(*) FROM call_dead_letters") == 0
    finally:
        await db.close()
