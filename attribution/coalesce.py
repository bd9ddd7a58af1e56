"""Counters that reach the database in as few writes as the load allows.

Counting every dropped visit with its own write would let a flood of requests queue as
many writes behind the single SQLite writer as it sends requests, slowing the people it
is kept away from. A :class:`CoalescedCounter` writes at once when idle (so a lone drop is
in the table when its request is answered), and while a write is in flight it sums what
arrives and writes the sum next: under a flood, one write per round trip of the writer
instead of one per request. The request that wrote waits for its own write only; what
arrived meanwhile is written by a background task, so no request waits out a flood.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

Write = Callable[[dict[Any, int]], Awaitable[None]]
log = logging.getLogger("callpath.coalesce")


class CoalescedCounter:
    """Adds to counters through ``write(batch)``, one write at a time."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: Counter[Hashable] = Counter()
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Counts waiting for the write in flight."""
        return sum(self._pending.values())

    async def add(self, key: Hashable, n: int = 1) -> None:
        """Count ``n`` under ``key``; written now, or by the write already in flight."""
        self._pending[key] += n
        if self._busy:
            return
        self._busy = True
        try:
            await self._write_pending()
        except BaseException:
            self._busy = False
            raise
        if not self._pending:
            self._busy = False
            return
        # More arrived during the write: a task writes it, one sum per write, while this
        # caller goes on (under a sustained flood it would otherwise never be answered).
        self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def settle(self) -> None:
        """Wait until what was added so far is written (or its write failed)."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)

    async def _write_pending(self) -> None:
        batch, self._pending = dict(self._pending), Counter()
        try:
            await self._write(batch)
        except BaseException:
            # Kept for the next write: a failed write loses no count.
            self._pending.update(batch)
            raise

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self._write_pending()
        except Exception:
            # The counts stay pending; the next add writes them.
            log.warning("writing coalesced counts failed; kept for the next write", exc_info=True)
        finally:
            self._busy = False


_COUNTERS: weakref.WeakKeyDictionary[Any, CoalescedCounter] = weakref.WeakKeyDictionary()


def counter_for(owner: Any, write: Write) -> CoalescedCounter:
    """The one counter of ``owner`` (a database handle), made on first use."""
    counter = _COUNTERS.get(owner)
    if counter is None:
        counter = _COUNTERS[owner] = CoalescedCounter(write)
    return counter


async def settle_counters(owner: Any) -> None:
    """Wait for ``owner``'s counter to write what it holds (before closing the database)."""
    counter = _COUNTERS.get(owner)
    if counter is not None:
        await counter.settle()
