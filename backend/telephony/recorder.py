"""Writing calls after the answer: a queue that survives storage being slow or down.

Webhook handlers only :meth:`Recorder.submit` an event and answer at once. One worker
applies events in arrival order. When a write fails, the event stays at the head of the
queue and is retried with backoff; when it takes longer than its time budget, storage is
counted as degraded; meanwhile new events queue up behind it. With a spool file
configured, every event waiting while storage is failing is also appended to that file,
and a restarted process replays it, so a crash during an outage loses nothing. Replays
are harmless: :func:`calls.record` is idempotent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextvars import Token
from pathlib import Path
from typing import Any

from backend.observability.context import (
    CALL_SID,
    REQUEST_ID,
    current_request_id,
    loggable_call_id,
)
from backend.telephony import calls
from backend.telephony.calls import CallEvent, Recorded
from pool.store import Store

log = logging.getLogger("callpath.telephony")

AfterHook = Callable[[Store, CallEvent, Recorded], Awaitable[None]]
Source = tuple[dict[str, Any] | None, str]


def _reset(context: tuple[Token[str], Token[str]]) -> None:
    """Back to the worker's own (empty) request id and call."""
    REQUEST_ID.reset(context[0])
    CALL_SID.reset(context[1])


class Recorder:
    """The in-memory retry queue between webhooks and storage."""

    def __init__(
        self,
        db: Callable[[], Store],
        *,
        matcher: calls.Matcher,
        after: AfterHook | None = None,
        write_timeout_s: float = 5.0,
        spool_path: str = "",
        max_backoff_s: float = 5.0,
    ) -> None:
        self._db = db
        self._matcher = matcher
        self._after = after
        self.write_timeout_s = write_timeout_s
        self.spool = Path(spool_path) if spool_path else None
        self._spool_lock: int | None = None
        self.max_backoff_s = max_backoff_s
        self._queue: deque[CallEvent] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.degraded = False  # the last write failed; events are spooled until it recovers
        self.failures = 0
        self.written = 0
        # Where recent calls came from (provider call id -> (session source, number label)),
        # kept in memory so the whisper needs no storage at the moment the business answers.
        self._whispers: OrderedDict[str, Source] = OrderedDict()
        self._whisper_waiters: dict[str, asyncio.Event] = {}

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Replay the spool left by an earlier process, then start the worker."""
        self._claim_spool()
        replayed = self._read_spool()
        if replayed:
            log.warning("replaying %d call events spooled while storage was down", replayed)
            self.degraded = True  # keep the file until everything in it is written
            self._idle.clear()
            self._wake.set()
        self._task = asyncio.create_task(self._work(), name="callpath-recorder")

    async def stop(self, grace_s: float = 2.0) -> None:
        """Write what can be written in ``grace_s``; spool the rest."""
        await self.drain(grace_s)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._queue:
            log.warning("%d call events not written at shutdown", len(self._queue))
            self._rewrite_spool()
        if self._spool_lock is not None:
            os.close(self._spool_lock)  # closing releases the lock
            self._spool_lock = None

    def submit(self, event: CallEvent) -> None:
        """Queue an event; returns at once (the webhook's answer never waits on storage)."""
        if not event.request_id and current_request_id():
            # The write happens in the worker's task: the request id travels with the event.
            event = dataclasses.replace(event, request_id=current_request_id())
        self._queue.append(event)
        if self.degraded:
            self._append_spool(event)
        self._idle.clear()
        self._wake.set()

    async def drain(self, within_s: float) -> bool:
        """Wait until every queued event is written; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), within_s)
        except TimeoutError:
            return False
        return True

    @property
    def pending(self) -> int:
        """Events waiting to be written."""
        return len(self._queue)

    # -- the worker ------------------------------------------------------------------
    async def _work(self) -> None:
        backoff = 0.05
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            event = self._queue[0]
            # Log lines of this write (and its after-work) carry the webhook's request id.
            context = (
                REQUEST_ID.set(event.request_id),
                CALL_SID.set(loggable_call_id(event.call_id)),
            )
            try:
                recorded = await self._write(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage down or locked: keep the event, retry
                self.failures += 1
                self._degrade(exc)
                _reset(context)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            self._queue.popleft()
            self.written += 1
            log.info("call %r: %s event written", event.call_id[:128], event.kind)
            backoff = 0.05
            if self.degraded and not self._queue:
                log.warning("storage is back; every queued call event is written")
                self.degraded = False
                self._rewrite_spool()
            await self._post_process(event, recorded)
            _reset(context)

    async def _write(self, event: CallEvent) -> Recorded:
        """Write one event. Past the time budget the queue counts as degraded (and is
        spooled) while the write goes on: a statement cancelled half-way could leave the
        store's single writer inside an open transaction."""
        task = asyncio.ensure_future(calls.record(self._db(), event, self._matcher))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.write_timeout_s)
        except TimeoutError:
            self._degrade(TimeoutError(f"a call write took over {self.write_timeout_s} s"))
            return await task

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            log.warning("storage failed, queueing call events: %r", exc)
            self.degraded = True
            self._rewrite_spool()

    async def _post_process(self, event: CallEvent, recorded: Recorded) -> None:
        # Qualification and notifications are extras: their failure never re-queues a call.
        try:
            if event.kind in calls.START_KINDS and recorded.match is not None:
                await self._remember_whisper(event, recorded)
            if self._after is not None:
                # Not under wait_for: cancelling a write half-way could leave the store's
                # writer inside an open transaction.
                await self._after(self._db(), event, recorded)
        except Exception:
            log.exception("after-write work of call %s failed", event.call_id)

    # -- whisper ---------------------------------------------------------------------
    async def _remember_whisper(self, event: CallEvent, recorded: Recorded) -> None:
        from backend.telephony.matching import session_source

        db = self._db()
        assert recorded.match is not None
        session = None
        if recorded.match.session_id is not None:
            session = await session_source(db, recorded.match.session_id)
        label = ""
        if recorded.match.number_id is not None:
            label = (
                await db.fetchval(
                    "SELECT source_label FROM tracking_numbers WHERE id = :id",
                    {"id": recorded.match.number_id},
                )
                or ""
            )
        self.set_source(event.call_id, session, label)

    def set_source(self, call_id: str, session: dict[str, Any] | None, label: str) -> None:
        """Keep where a call came from for when the business answers."""
        self._whispers[call_id] = (session, label)
        while len(self._whispers) > 5000:
            self._whispers.popitem(last=False)
        waiter = self._whisper_waiters.pop(call_id, None)
        if waiter is not None:
            waiter.set()

    async def source(self, call_id: str, budget_s: float) -> Source | None:
        """Where a call came from, waiting at most ``budget_s`` for it to be known."""
        if call_id in self._whispers:
            return self._whispers[call_id]
        waiter = self._whisper_waiters.setdefault(call_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), budget_s)
        except TimeoutError:
            self._whisper_waiters.pop(call_id, None)
        return self._whispers.get(call_id)

    # -- spool -----------------------------------------------------------------------
    def _claim_spool(self) -> None:
        """Own the spool file for this process's life (a lock beside it), or go without.

        Several worker processes given the same path would overwrite each other's file;
        the first one keeps it, the others keep their queue in memory only (and say so).
        """
        if self.spool is None:
            return
        lock_path = self.spool.with_name(self.spool.name + ".lock")
        try:
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.error("cannot open the call spool lock %s: %s", lock_path, exc)
            self.spool = None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            log.warning(
                "call spool %s is used by another process; this one keeps its queue in "
                "memory only (give each server process its own CALLPATH_CALL_SPOOL_PATH)",
                self.spool,
            )
            self.spool = None
            return
        self._spool_lock = fd

    def _append_spool(self, event: CallEvent) -> None:
        if self.spool is None:
            return
        try:
            with self.spool.open("ab") as fh:
                fh.write(event.to_json() + b"\n")
        except OSError as exc:
            log.error("cannot spool call event to %s: %s", self.spool, exc)

    def _rewrite_spool(self) -> None:
        """The spool holds exactly the waiting events (nothing once all are written)."""
        if self.spool is None:
            return
        tmp = self.spool.with_name(self.spool.name + ".tmp")
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as fh:
                fh.writelines(e.to_json() + b"\n" for e in self._queue)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.spool)
        except OSError as exc:
            log.error("cannot write the call spool %s: %s", self.spool, exc)

    def _read_spool(self) -> int:
        if self.spool is None or not self.spool.exists():
            return 0
        count = 0
        for line in self.spool.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                self._queue.append(CallEvent.from_json(line))
            except (ValueError, TypeError) as exc:  # a torn last line after a crash
                log.error("skipping an unreadable spooled call event: %s", exc)
                continue
            count += 1
        return count
