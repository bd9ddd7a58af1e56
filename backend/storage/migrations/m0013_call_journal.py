"""Call events once per (call, kind, status), and dead letters of call events.

``call_events.status`` is the status the event reported (Twilio's ``CallStatus``,
``DialCallStatus`` or ``RecordingStatus``, a PBX's status), so that a replayed webhook —
Twilio retrying, a journal replayed after a crash — adds no row:
``INSERT … ON CONFLICT (call_id, kind, status) DO NOTHING``. Existing rows get their status
from their payload (JSON written by orjson, without spaces), then duplicates are removed,
keeping the first, before the unique index is built.

``call_dead_letters`` keeps events storage refused after several tries while it took other
writes (``backend/telephony/deadletter.py``), with the last error.
"""

# Values a payload field can take, as the code sets the event's status from them.
_PARENT = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
_OUTCOMES = ("answered", "completed", "busy", "no-answer", "failed", "canceled")
_RECORDING = ("in-progress", "completed", "absent", "failed")


def _fill(kinds: str, field: str, values: tuple[str, ...]) -> list[str]:
    return [
        f"UPDATE call_events SET status = '{value}' WHERE kind IN ({kinds})"
        f' AND payload LIKE \'%"{field}":"{value}"%\''
        for value in values
    ]


STATEMENTS = [
    "ALTER TABLE call_events ADD COLUMN status TEXT NOT NULL DEFAULT ''",
    *_fill("'voice', 'status'", "CallStatus", _PARENT),
    *_fill("'dial'", "DialCallStatus", _OUTCOMES),
    *_fill("'recording'", "RecordingStatus", _RECORDING),
    *_fill("'end'", "status", _OUTCOMES),
    "UPDATE call_events SET status = 'ringing' WHERE kind = 'start'",
    "DELETE FROM call_events WHERE id NOT IN"
    " (SELECT MIN(id) FROM call_events GROUP BY call_id, kind, status)",
    "CREATE UNIQUE INDEX call_events_once ON call_events (call_id, kind, status)",
    """CREATE TABLE call_dead_letters (
        id {pk},
        provider TEXT NOT NULL,
        provider_call_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT '',
        event {json} NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX call_dead_letters_created ON call_dead_letters (created_ms)",
]
