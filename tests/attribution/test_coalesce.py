"""Coalesced counters: written at once when idle, summed while a write is in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from attribution.coalesce import CoalescedCounter, counter_for
from attribution.ingest import count_drop, drop_counts
from pool.store import Store


async def test_an_idle_counter_writes_at_once() -> None:
    writes: list[dict[Any, int]] = []

    async def write(batch: dict[Any, int]) -> None:
        writes.append(batch)

    counter = CoalescedCounter(write)
    await counter.add("a")
    assert writes == [{"a": 1}]
    await counter.add("b", 2)
    assert writes == [{"a": 1}, {"b": 2}]


async def test_adds_during_a_write_are_summed_into_the_next() -> None:
    writes: list[dict[Any, int]] = []
    release = asyncio.Event()

    async def slow_write(batch: dict[Any, int]) -> None:
        writes.append(batch)
        await release.wait()

    counter = CoalescedCounter(slow_write)
    first = asyncio.create_task(counter.add("x"))
    await asyncio.sleep(0)
    # 999 more arrive while the first write waits: they return at once, nothing written.
    await asyncio.gather(*(counter.add("x" if i % 3 else "y") for i in range(999)))
    assert writes == [{"x": 1}] and counter.pending == 999
    release.set()
    await first
    await counter.settle()  # the 999 are written by a task of their own
    assert len(writes) == 2 and counter.pending == 0
    assert writes[1] == {"x": 666, "y": 333}


async def test_the_writing_request_does_not_wait_out_a_flood() -> None:
    """A drop that starts a write is answered after that write, though drops keep arriving
    during every write; everything is still counted."""
    writes: list[dict[Any, int]] = []

    async def write(batch: dict[Any, int]) -> None:
        writes.append(batch)
        await asyncio.sleep(0.001)

    counter = CoalescedCounter(write)
    flooding = True

    async def flood() -> int:
        sent = 0
        while flooding:
            await counter.add("flood")
            sent += 1
            await asyncio.sleep(0)
        return sent

    person = asyncio.create_task(counter.add("person"))  # idle: this one writes
    await asyncio.sleep(0)
    flooders = [asyncio.create_task(flood()) for _ in range(4)]
    await asyncio.wait_for(person, timeout=1.0)
    flooding = False
    sent = sum(await asyncio.gather(*flooders))
    await counter.settle()
    totals: dict[Any, int] = {}
    for batch in writes:
        for key, n in batch.items():
            totals[key] = totals.get(key, 0) + n
    assert totals == {"flood": sent, "person": 1}


async def test_a_failed_write_keeps_its_counts() -> None:
    fail = True
    written: list[dict[Any, int]] = []

    async def flaky(batch: dict[Any, int]) -> None:
        if fail:
            raise ConnectionError("database is down")
        written.append(batch)

    counter = CoalescedCounter(flaky)
    with pytest.raises(ConnectionError):
        await counter.add("k", 5)
    assert counter.pending == 5
    fail = False
    await counter.add("k")
    assert written == [{"k": 6}]


async def test_concurrent_drops_are_all_counted(db: Store) -> None:
    """Many drops at once end up as the right totals in ingest_counters, in fewer writes."""
    now = 1_700_000_000_000
    await asyncio.gather(
        *(
            count_drop(db, site_id=0, reason="rate_limited" if i % 4 else "bot", now_ms=now)
            for i in range(400)
        )
    )
    counter = counter_for(db, lambda b: asyncio.sleep(0))
    await counter.settle()
    assert await drop_counts(db) == {"rate_limited": 300, "bot": 100}
    assert counter.pending == 0
