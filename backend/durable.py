"""Durable jobs: work planned for a time, kept in the ``jobs`` table, run once.

A reminder text, a retry, anything that must happen later even if the server restarts
meanwhile is a job. The periodic rounds of :mod:`backend.api.jobs` (sweeps, purges) are
for work that is simply done again next round; a durable job is one piece of work that
must be done once, at its time.

- :func:`schedule` plans a job under a key (``reminder:12:1733…``); planning the same key
  again moves it (re-planned), unless it has run already.
- :func:`cancel` cancels every job still to run about one thing (``ref``).
- :class:`Runner` claims due jobs with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
  so two instances never take the same job; SQLite's single writer serialises claims),
  runs each job's handler, marks it ``done``, or plans the next attempt with backoff
  (``failed`` after ``max_attempts``). A job whose instance died keeps its lease until
  ``lease_until_ms``; another instance takes it over after that.
- A job past its ``useful_until_ms`` (a reminder for a window that has started, after a
  downtime) is not run: it is ``dropped`` and counted (:func:`counts`).

Handlers should be idempotent where the outside world is concerned (a text carries the
job's key as its ``dedupe_key``, see :mod:`backend.telephony.sms`): a lease can run out
while a handler is still working.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pool.store import Store, Tx, now_ms

log = logging.getLogger("callpath.durable")
STATUSES = ("pending", "running", "done", "failed", "cancelled", "dropped")
MAX_ERROR = 500


@dataclass(frozen=True)
class Job:
    """One claimed job, as its handler gets it."""

    id: int
    kind: str
    key: str
    ref: str
    payload: dict[str, Any]
    due_ms: int
    attempts: int  # this run included
    max_attempts: int


class Retry(Exception):
    """Raised by a handler: try again later (``after_ms``: when; default the backoff)."""

    def __init__(self, reason: str, after_ms: int | None = None) -> None:
        super().__init__(reason)
        self.after_ms = after_ms


Handler = Callable[[Job], Awaitable[None]]


async def schedule(
    tx: Tx,
    *,
    kind: str,
    key: str,
    due_ms: int,
    ref: str = "",
    payload: Mapping[str, Any] | None = None,
    useful_until_ms: int | None = None,
    max_attempts: int = 5,
    now: int | None = None,
) -> int:
    """Plan (or re-plan) the job ``key``; return its id.

    A job not yet run (pending, cancelled, failed or dropped) is moved to the new time with
    its attempts reset; one that is running or done is left as it is (a reminder already
    sent is not sent again: a new window needs a new key).
    """
    now = now_ms() if now is None else now
    params = {
        "kind": kind,
        "key": key,
        "ref": ref,
        "payload": orjson.dumps(dict(payload or {})).decode(),
        "due": due_ms,
        "useful": useful_until_ms,
        "max": max_attempts,
        "now": now,
    }
    job_id = await tx.fetchval(
        "INSERT INTO jobs (kind, job_key, ref, payload, due_ms, useful_until_ms, max_attempts,"
        " created_ms, updated_ms) VALUES (:kind, :key, :ref, :payload, :due, :useful, :max,"
        " :now, :now)"
        " ON CONFLICT (job_key) DO UPDATE SET due_ms = excluded.due_ms,"
        " useful_until_ms = excluded.useful_until_ms, payload = excluded.payload,"
        " status = 'pending', attempts = 0, last_error = '', lease_owner = '',"
        " lease_until_ms = NULL, updated_ms = excluded.updated_ms"
        " WHERE jobs.status IN ('pending', 'cancelled', 'failed', 'dropped')"
        " RETURNING id",
        params,
    )
    if job_id is None:  # running or done: left alone
        job_id = await tx.fetchval("SELECT id FROM jobs WHERE job_key = :key", {"key": key})
    return int(job_id)


async def cancel(tx: Tx, ref: str, *, kinds: tuple[str, ...] = (), now: int | None = None) -> int:
    """Cancel the jobs about ``ref`` still to run (of these ``kinds``; all when empty)."""
    sql = (
        "UPDATE jobs SET status = 'cancelled', updated_ms = :now"
        " WHERE ref = :ref AND status = 'pending'"
    )
    params: dict[str, Any] = {"ref": ref, "now": now_ms() if now is None else now}
    if kinds:
        names = [f"k{i}" for i in range(len(kinds))]
        sql += " AND kind IN (" + ", ".join(":" + n for n in names) + ")"
        params.update(zip(names, kinds, strict=True))
    return await tx.execute(sql, params)


async def counts(db: Store, kind: str | None = None) -> dict[str, int]:
    """How many jobs are in each status (of one kind, or all)."""
    sql = "SELECT status, COUNT(*) AS n FROM jobs"
    params: dict[str, Any] = {}
    if kind is not None:
        sql += " WHERE kind = :kind"
        params["kind"] = kind
    rows = await db.fetchall(sql + " GROUP BY status", params)
    found = {row["status"]: int(row["n"]) for row in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def backoff_ms(attempt: int, base_ms: int) -> int:
    """Wait before the attempt after ``attempt`` (1-based): doubling, capped at an hour."""
    return int(min(base_ms * 2 ** max(0, attempt - 1), 3_600_000))


def _job(row: Mapping[str, Any]) -> Job:
    payload = row["payload"]
    return Job(
        id=int(row["id"]),
        kind=row["kind"],
        key=row["job_key"],
        ref=row["ref"],
        payload=orjson.loads(payload) if payload else {},
        due_ms=int(row["due_ms"]),
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
    )


class Runner:
    """Claims due jobs and runs their handlers (one per kind)."""

    def __init__(
        self,
        db: Callable[[], Store],
        handlers: Mapping[str, Handler],
        *,
        owner: str = "",
        lease_ms: int = 60_000,
        batch: int = 20,
        backoff_base_ms: int = 30_000,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self.handlers = dict(handlers)
        # Which instance holds a lease: unique per runner, readable in the table.
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease_ms = lease_ms
        self.batch = batch
        self.backoff_base_ms = backoff_base_ms
        self.clock = clock

    async def claim(self, now: int) -> list[Job]:
        """Take up to ``batch`` due jobs (pending, or running with a lease run out)."""
        db = self._db()
        lock = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
        kinds = list(self.handlers)
        if not kinds:
            return []
        names = [f"k{i}" for i in range(len(kinds))]
        params: dict[str, Any] = dict(zip(names, kinds, strict=True))
        params.update(now=now, until=now + self.lease_ms, owner=self.owner, n=self.batch)
        due = (
            "SELECT id FROM jobs WHERE kind IN (" + ", ".join(":" + n for n in names) + ") AND"
            " ((status = 'pending' AND due_ms <= :now)"
            " OR (status = 'running' AND lease_until_ms < :now))"
            f" ORDER BY due_ms, id LIMIT :n{lock}"
        )

        async def unit(tx: Tx) -> list[dict[str, Any]]:
            return await tx.fetchall(
                "UPDATE jobs SET status = 'running', lease_owner = :owner,"
                " lease_until_ms = :until, attempts = attempts + 1, updated_ms = :now"
                f" WHERE id IN ({due}) RETURNING *",
                params,
            )

        rows = await db.transact(unit)
        return [_job(row) for row in sorted(rows, key=lambda r: (r["due_ms"], r["id"]))]

    async def _finish(self, job: Job, status: str, now: int, **fields: Any) -> bool:
        """Set a claimed job's outcome, only while this runner still holds it."""
        sets = ", ".join(f"{name} = :{name}" for name in fields)
        sql = (
            f"UPDATE jobs SET status = :status, updated_ms = :now{', ' + sets if sets else ''}"
            " WHERE id = :id AND lease_owner = :owner AND status = 'running'"
        )
        params = {"status": status, "now": now, "id": job.id, "owner": self.owner, **fields}

        async def unit(tx: Tx) -> int:
            return await tx.execute(sql, params)

        # A short unit: finishing a job is not a change of settings (no cache re-reads).
        return bool(await self._db().transact(unit))

    async def _state(self, job: Job, now: int) -> str:
        """'held' (still ours, useful), 'late' (ours, no longer useful) or 'lost'."""
        row = await self._db().fetchone(
            "SELECT useful_until_ms, lease_owner, status FROM jobs WHERE id = :id", {"id": job.id}
        )
        if row is None or row["status"] != "running" or row["lease_owner"] != self.owner:
            return "lost"
        until = row["useful_until_ms"]
        return "held" if until is None or now < int(until) else "late"

    async def run_one(self, job: Job) -> str:
        """Run one claimed job; return the status it was left in (``lost``: another
        instance holds it now, this one did nothing)."""
        now = self.clock()
        state = await self._state(job, now)
        if state == "lost":
            return "lost"
        if state == "late":
            await self._finish(job, "dropped", now, done_ms=now)
            log.info("job %s (%s) dropped: no longer useful", job.key, job.kind)
            return "dropped"
        try:
            await self.handlers[job.kind](job)
        except Exception as exc:
            error = (str(exc) or type(exc).__name__)[:MAX_ERROR]
            now = self.clock()
            if job.attempts >= job.max_attempts:
                log.warning("job %s (%s) failed for good: %s", job.key, job.kind, error)
                await self._finish(job, "failed", now, last_error=error, done_ms=now)
                return "failed"
            after = exc.after_ms if isinstance(exc, Retry) and exc.after_ms else None
            wait = after if after is not None else backoff_ms(job.attempts, self.backoff_base_ms)
            if not isinstance(exc, Retry):
                log.warning("job %s (%s) attempt %s: %s", job.key, job.kind, job.attempts, error)
            await self._finish(
                job, "pending", now, last_error=error, due_ms=now + wait, lease_owner=""
            )
            return "pending"
        now = self.clock()
        if not await self._finish(job, "done", now, done_ms=now, last_error=""):
            return "lost"  # the lease ran out while the handler worked
        return "done"

    async def run_due(self, now: int | None = None) -> dict[str, int]:
        """Claim and run what is due now, batch after batch; count outcomes by status."""
        done: dict[str, int] = {}
        while True:
            jobs = await self.claim(self.clock() if now is None else now)
            for job in jobs:
                status = await self.run_one(job)
                done[status] = done.get(status, 0) + 1
            if len(jobs) < self.batch:
                return done
