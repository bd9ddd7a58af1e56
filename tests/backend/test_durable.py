"""Durable jobs (backend/durable.py): planned in the database, claimed once, retried, dropped
when late, on both stores."""

from __future__ import annotations

import asyncio

from backend import durable
from pool.store import Store

T0 = 1_800_000_000_000


def runner(
    db: Store, seen: list[str], *, owner: str, clock: list[int], **kw: object
) -> durable.Runner:
    async def handle(job: durable.Job) -> None:
        await asyncio.sleep(0)  # let the other runner try to claim meanwhile
        if job.payload.get("fail_times", 0) >= job.attempts:
            raise RuntimeError(f"attempt {job.attempts} failed")
        seen.append(job.key)

    return durable.Runner(
        lambda: db,
        {"test": handle},
        owner=owner,
        clock=lambda: clock[0],
        backoff_base_ms=1000,
        **kw,  # type: ignore[arg-type]
    )


async def plan(db: Store, key: str, due: int, **kw: object) -> int:
    async with db.write() as tx:
        return await durable.schedule(tx, kind="test", key=key, due_ms=due, now=T0, **kw)  # type: ignore[arg-type]


async def test_two_runners_run_every_due_job_exactly_once(db: Store) -> None:
    for i in range(60):
        await plan(db, f"job-{i}", T0 + i, ref=f"thing:{i % 3}")
    await plan(db, "later", T0 + 10_000)
    seen: list[str] = []
    clock = [T0 + 1000]
    a = runner(db, seen, owner="a", clock=clock, batch=7)
    b = runner(db, seen, owner="b", clock=clock, batch=7)
    await asyncio.gather(a.run_due(), b.run_due(), a.run_due(), b.run_due())
    assert sorted(seen) == sorted(f"job-{i}" for i in range(60))
    assert (await durable.counts(db))["done"] == 60
    assert (await durable.counts(db))["pending"] == 1  # not due yet


async def test_replanning_moves_a_job_and_cancelling_stops_it(db: Store) -> None:
    first = await plan(db, "reminder:1", T0 + 5000, ref="r:1")
    again = await plan(db, "reminder:1", T0 + 9000, ref="r:1", payload={"v": 2})
    assert first == again
    row = await db.fetchone("SELECT due_ms, payload FROM jobs WHERE id = :id", {"id": first})
    assert row["due_ms"] == T0 + 9000
    await plan(db, "other:1", T0, ref="r:1")
    async with db.write() as tx:
        assert await durable.cancel(tx, "r:1", kinds=("test",)) == 2
    seen: list[str] = []
    await runner(db, seen, owner="a", clock=[T0 + 20_000]).run_due()
    assert seen == []
    assert (await durable.counts(db))["cancelled"] == 2
    # Planned again after a cancel: it runs.
    await plan(db, "reminder:1", T0 + 30_000, ref="r:1")
    await runner(db, seen, owner="a", clock=[T0 + 30_000]).run_due()
    assert seen == ["reminder:1"]
    # Done jobs are not planned again under the same key.
    await plan(db, "reminder:1", T0 + 40_000, ref="r:1")
    await runner(db, seen, owner="a", clock=[T0 + 40_000]).run_due()
    assert seen == ["reminder:1"]


async def test_a_failing_job_is_retried_with_backoff_then_fails_for_good(db: Store) -> None:
    await plan(db, "flaky", T0, payload={"fail_times": 1}, max_attempts=3)
    await plan(db, "broken", T0, payload={"fail_times": 99}, max_attempts=3)
    seen: list[str] = []
    clock = [T0]
    run = runner(db, seen, owner="a", clock=clock)
    assert await run.run_due() == {"pending": 2}
    row = await db.fetchone("SELECT due_ms, last_error FROM jobs WHERE job_key = 'flaky'")
    assert row["due_ms"] == T0 + 1000 and "attempt 1 failed" in row["last_error"]
    clock[0] = T0 + 999
    assert await run.run_due() == {}  # not yet
    clock[0] = T0 + 1000
    assert await run.run_due() == {"done": 1, "pending": 1}
    assert seen == ["flaky"]
    clock[0] = T0 + 1000 + 2000  # the second wait is doubled
    assert await run.run_due() == {"failed": 1}
    assert (await durable.counts(db))["failed"] == 1


async def test_a_job_whose_instance_died_is_taken_over_after_its_lease(db: Store) -> None:
    await plan(db, "orphan", T0)
    dead = runner(db, [], owner="dead", clock=[T0], lease_ms=60_000)
    [job] = await dead.claim(T0)  # claimed, then the instance died before running it
    seen: list[str] = []
    alive = runner(db, seen, owner="alive", clock=[T0 + 59_000], lease_ms=60_000)
    assert await alive.run_due() == {}
    alive.clock = lambda: T0 + 61_000
    assert await alive.run_due() == {"done": 1}
    # The dead instance coming back does nothing with what it no longer holds.
    assert await dead.run_one(job) == "lost"
    assert await db.fetchval("SELECT lease_owner FROM jobs WHERE job_key = 'orphan'") == "alive"
    assert seen == ["orphan"]


async def test_late_jobs_after_downtime_run_only_while_still_useful(db: Store) -> None:
    await plan(db, "useful", T0, useful_until_ms=T0 + 600_000)
    await plan(db, "stale", T0, useful_until_ms=T0 + 60_000)
    seen: list[str] = []
    # The server was down from T0 to T0 + 2 minutes.
    done = await runner(db, seen, owner="a", clock=[T0 + 120_000]).run_due()
    assert done == {"done": 1, "dropped": 1}
    assert seen == ["useful"]
    assert (await durable.counts(db, "test"))["dropped"] == 1
