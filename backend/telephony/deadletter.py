"""Call events that storage refuses, set aside so the ones behind them are written.

The recorder writes events in arrival order and retries a failed write. When storage is
down every write fails, and retrying forever is right. But an event that storage refuses
while it accepts other writes would block every later call. After a few tries the
recorder writes the event here (its JSON and the last error): if that write succeeds,
storage is up and the event itself is the trouble, so it leaves the queue; if it fails
too, storage is down and the event keeps its place. Administrators see dead letters in
the dashboard (Settings → Unrecorded call events).
"""

from __future__ import annotations

from backend.telephony import sanitize
from backend.telephony.calls import CallEvent
from pool.store import Row, Store, now_ms


async def store(db: Store, event: CallEvent, error: str, attempts: int) -> None:
    """Keep ``event`` with the error that stopped it (raises when storage is down)."""
    await db.execute(
        "INSERT INTO call_dead_letters (provider, provider_call_id, kind, status, event,"
        " error, attempts, created_ms) VALUES (:p, :c, :k, :s, :e, :err, :a, :t)",
        {
            "p": sanitize.text(event.provider, 32),
            "c": sanitize.text(event.call_id, 128),
            "k": sanitize.text(event.kind, 20),
            "s": sanitize.text(event.status, 20),
            # JSON escapes every control character: the text holds no NUL.
            "e": event.to_json().decode(),
            "err": sanitize.text(error, 1000),
            "a": attempts,
            "t": now_ms(),
        },
    )


async def count(db: Store) -> int:
    """How many events were set aside."""
    return int(await db.fetchval("SELECT COUNT(*) FROM call_dead_letters") or 0)


async def recent(db: Store, limit: int = 200) -> list[Row]:
    """The newest dead letters first."""
    rows: list[Row] = await db.fetchall(
        "SELECT id, provider, provider_call_id, kind, status, error, attempts, created_ms"
        " FROM call_dead_letters ORDER BY created_ms DESC, id DESC LIMIT :n",
        {"n": limit},
    )
    return rows
