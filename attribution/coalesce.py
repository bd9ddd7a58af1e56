"""Counters that reach the database in as few writes as the load allows.

Counting every dropped visit with its own write would let a flood of requests queue as
many writes behind the single SQLite writer as it sends requests, slowing the people it
is kept away from. A :class:`CoalescedCounter` writes at once when idle (so a lone drop is
in the table when its request is answered), and while a write is in flight it sums what
arrives and writes the sum next: under a flood, one write per round trip of the writer
instead of one per request.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

Write = Callable[[dict[Any, int]], Awaitable[None]]


class CoalescedCounter:
    """Adds to counters through ``write(batch)``, one write at a time."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: Counter[Hashable] = Counter()
        self._busy = False

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
            while self._pending:
                batch, self._pending = dict(self._pending), Counter()
                try:
                    await self._write(batch)
                except BaseException:
                    # Kept for the next write: a failed write loses no count.
                    self._pending.update(batch)
                    raise
        finally:
            self._busy = False


_COUNTERS: weakref.WeakKeyDictionary[Any, CoalescedCounter] = weakref.WeakKeyDictionary()


def counter_for(owner: Any, write: Write) -> CoalescedCounter:
    """The one counter of ``owner`` (a database handle), made on first use."""
    counter = _COUNTERS.get(owner)
    if counter is None:
        counter = _COUNTERS[owner] = CoalescedCounter(write)
    return counter
