"""The durable jobs on a recording row: fetching the file, transcribing it, then (with a
summary provider) summarising the transcript.

Each job is a few columns of ``recordings`` (its state, tries and next try), so it survives
a restart and is claimed by one worker at a time, on SQLite and PostgreSQL alike: the claim
is one ``UPDATE`` that re-checks the state (PostgreSQL re-reads a row another worker just
changed, SQLite has one writer). A claim lasts :data:`CLAIM_MS`; a worker that died holding
one leaves it to be claimed again after that. A failure waits :data:`FIRST_WAIT_MS`, doubled
after each try, and the job is marked failed after the install's number of tries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pool.store import Store

CLAIM_MS = 10 * 60_000
FIRST_WAIT_MS = 30_000
ERROR_MAX = 500


@dataclass(frozen=True)
class Job:
    """The columns of one job: its state, tries and next try."""

    state: str
    attempts: str
    next_ms: str
    ready: str = "pending"
    working: str = "working"
    done: str = "done"
    error: str = "last_error"


FETCH = Job("status", "attempts", "next_try_ms", working="fetching", done="stored")
TRANSCRIBE = Job(
    "transcript_status", "transcript_attempts", "transcript_next_ms", error="transcript_error"
)
SUMMARISE = Job("summary_status", "summary_attempts", "summary_next_ms", error="summary_error")


async def claim(db: Store, job: Job, now: int) -> dict[str, Any] | None:
    """Take the oldest recording whose turn has come (or whose claim lapsed), or None."""
    due = (
        f"(({job.state} = '{job.ready}' AND {job.next_ms} <= :now)"
        f" OR ({job.state} = '{job.working}' AND claimed_until_ms < :now))"
    )
    async with db.write() as tx:
        row = await tx.fetchone(
            f"UPDATE recordings SET {job.state} = '{job.working}',"
            f" {job.attempts} = {job.attempts} + 1, claimed_until_ms = :until"
            f" WHERE id = (SELECT id FROM recordings WHERE {due} ORDER BY id LIMIT 1)"
            f" AND {due} RETURNING *",
            {"now": now, "until": now + CLAIM_MS},
        )
    return None if row is None else dict(row)


async def failed(db: Store, job: Job, row: dict[str, Any], error: str, *, now: int,
                 attempts: int) -> None:  # fmt: skip
    """Record a failed try: wait and try again, or give up after ``attempts`` tries."""
    tries = int(row[job.attempts])
    final = tries >= attempts
    await db.execute(
        f"UPDATE recordings SET {job.state} = :state, {job.next_ms} = :next,"
        f" {job.error} = :error, claimed_until_ms = 0"
        f" WHERE id = :id AND {job.state} = '{job.working}'",
        {
            "state": "failed" if final else job.ready,
            "next": now + FIRST_WAIT_MS * 2 ** min(tries - 1, 20),
            "error": error[:ERROR_MAX],
            "id": row["id"],
        },
    )
