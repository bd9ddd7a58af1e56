"""Writing calls after the answer: journaled first, then written from a queue in memory.

Webhook handlers :meth:`Recorder.submit` an event, wait for :meth:`Recorder.journaled`
(the event is appended to the call journal and ``fdatasync``-ed, :mod:`journal`) and
answer. One worker applies events in arrival order. When a write fails, the event stays
at the head of the queue and is retried with backoff; when it takes longer than its time
budget, storage is counted as degraded; meanwhile new events queue up behind it. An event
that still fails after :data:`DEAD_AFTER` tries is set aside as a dead letter when
storage takes that write (:mod:`deadletter`), so one bad event cannot stop the rest. A
process that dies leaves its unwritten events in its journal and the next one replays
them. Replays are harmless: :func:`calls.record` is idempotent per event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextvars import Token
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.observability.context import (
    CALL_SID,
    REQUEST_ID,
    current_request_id,
    loggable_call_id,
)
from backend.telephony import calls, deadletter, sanitize
from backend.telephony.calls import CallEvent, Recorded
from backend.telephony.journal import Journal
from pool.store import Store

log = logging.getLogger("callpath.telephony")

AfterHook = Callable[[Store, CallEvent, Recorded], Awaitable[None]]
Source = tuple[dict[str, Any] | None, str]

# Tries of one event before it may become a dead letter.
DEAD_AFTER = 5
# Longest a webhook's answer waits for the journal: past it the caller is answered anyway
# (a stalled disk must not keep a caller from the business).
JOURNAL_WAIT_S = 0.5


def _reset(context: tuple[Token[str], Token[str]]) -> None:
    """Back to the worker's own (empty) request id and call."""
    REQUEST_ID.reset(context[0])
    CALL_SID.reset(context[1])


@dataclass
class _Waiting:
    event: CallEvent
    line: bytes
    since: float  # time.monotonic() when it was queued
    tries: int = 0


class Recorder:
    """The in-memory retry queue between webhooks and storage, backed by the journal."""

    def __init__(
        self,
        db: Callable[[], Store],
        *,
        matcher: calls.Matcher,
        after: AfterHook | None = None,
        write_timeout_s: float = 5.0,
        journal_path: Path | None = None,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._db = db
        self._matcher = matcher
        self._after = after
        self.write_timeout_s = write_timeout_s
        self.max_backoff_s = max_backoff_s
        self._journal_base = journal_path
        self.journal: Journal | None = None
        self._queue: deque[_Waiting] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.degraded = False  # the last write failed; events wait in the queue and journal
        self.failures = 0
        self.written = 0
        self.dead_letters = 0
        # Where recent calls came from (provider call id -> (session source, number label)),
        # kept in memory so the whisper needs no storage at the moment the business answers.
        self._whispers: OrderedDict[str, Source] = OrderedDict()
        self._whisper_waiters: dict[str, asyncio.Event] = {}

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Open this process's journal, queue what earlier processes left, start the worker."""
        if self._journal_base is not None:
            journal = Journal(self._journal_base, self._unstored_lines)
            if journal.claim():
                self.journal = journal
                replayed = self._replay(journal.recover())
                if replayed:
                    log.warning("replaying %d call events from the call journal", replayed)
                    self._idle.clear()
                    self._wake.set()
        self._task = asyncio.create_task(self._work(), name="callpath-recorder")

    async def stop(self, grace_s: float = 2.0) -> None:
        """Write what can be written in ``grace_s``; the rest stays in the journal."""
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
        if self.journal is not None:
            await self.journal.close_when_written()
            self.journal = None

    def submit(self, event: CallEvent) -> None:
        """Queue an event and start journaling it; returns at once. The webhook then awaits
        :meth:`journaled` before it answers."""
        if not event.request_id and current_request_id():
            # The write happens in the worker's task: the request id travels with the event
            # (and in the journal, for a replay after a crash).
            event = dataclasses.replace(event, request_id=current_request_id())
        event = sanitize.event(event)
        line = event.to_json()
        self._queue.append(_Waiting(event, line, time.monotonic()))
        if self.journal is not None:
            self.journal.append(line)
        self._idle.clear()
        self._wake.set()

    async def journaled(self) -> bool:
        """Wait until every event submitted so far is on disk (bounded: a stalled disk does
        not hold the answer back); True when it is, or when there is no journal."""
        if self.journal is None:
            return True
        if await self.journal.synced(JOURNAL_WAIT_S):
            return True
        log.error(
            "the call journal was not written and synced within %.1f s; answering anyway",
            JOURNAL_WAIT_S,
        )
        return False

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

    def oldest_age_ms(self) -> int:
        """How long the oldest waiting event has waited, in milliseconds (0 when none)."""
        if not self._queue:
            return 0
        return int((time.monotonic() - self._queue[0].since) * 1000)

    def _unstored_lines(self) -> list[bytes]:
        return [w.line for w in self._queue]

    def _replay(self, lines: list[bytes]) -> int:
        """Queue journaled events, once per (provider, call, kind, status)."""
        seen: set[tuple[str, str, str, str]] = set()
        now = time.monotonic()
        for line in lines:
            try:
                event = sanitize.event(CallEvent.from_json(line))
            except (ValueError, TypeError) as exc:  # a torn last line after a crash
                log.error("skipping an unreadable journaled call event: %s", exc)
                continue
            key = (event.provider, event.call_id, event.kind, event.status)
            if key in seen:
                continue
            seen.add(key)
            self._queue.append(_Waiting(event, event.to_json(), now))
        return len(seen)

    # -- the worker ------------------------------------------------------------------
    async def _work(self) -> None:
        backoff = 0.05
        while True:
            if not self._queue:
                if self.journal is not None:
                    await self.journal.compact()
                if not self._queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                continue
            head = self._queue[0]
            # Log lines of this write (and its after-work) carry the webhook's request id.
            context = (
                REQUEST_ID.set(head.event.request_id),
                CALL_SID.set(loggable_call_id(head.event.call_id)),
            )
            try:
                try:
                    recorded = await self._write(head.event)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # storage down or locked, or this event refused
                    self.failures += 1
                    head.tries += 1
                    if head.tries >= DEAD_AFTER and await self._set_aside(head, exc):
                        self._queue.popleft()
                        backoff = 0.05
                        continue
                    self._degrade(exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                self._queue.popleft()
                self.written += 1
                log.info("call %r: %s event written", head.event.call_id[:128], head.event.kind)
                backoff = 0.05
                if self.degraded and not self._queue:
                    log.warning("storage is back; every queued call event is written")
                    self.degraded = False
                await self._post_process(head.event, recorded)
            finally:
                _reset(context)

    async def _write(self, event: CallEvent) -> Recorded:
        """Write one event. Past the time budget the queue counts as degraded while the
        write goes on: a statement cancelled half-way could leave the store's single writer
        inside an open transaction."""
        task = asyncio.ensure_future(calls.record(self._db(), event, self._matcher))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.write_timeout_s)
        except TimeoutError:
            self._degrade(TimeoutError(f"a call write took over {self.write_timeout_s} s"))
            return await task

    async def _set_aside(self, head: _Waiting, exc: BaseException) -> bool:
        """Move the head event to the dead letters; False when storage takes that neither."""
        try:
            await deadletter.store(self._db(), head.event, repr(exc), head.tries)
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        self.dead_letters += 1
        log.error(
            "call event %s %s of %s failed %d times and was set aside: %r",
            head.event.kind,
            head.event.status,
            head.event.call_id,
            head.tries,
            exc,
        )
        return True

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            log.warning("storage failed, queueing call events: %r", exc)
            self.degraded = True

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
        from backend.telephony.matching import call_source

        db = self._db()
        assert recorded.match is not None
        session = None
        if recorded.match.session_id is not None:
            # The touch frozen on the call: the session may have had a new touch since.
            session = await call_source(db, recorded.call_id)
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
