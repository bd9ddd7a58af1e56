"""Long migrations in steps (backend/storage/migrations/stepwise.py), on both stores: the
backfill runs in batches of short units while another instance keeps writing the same table,
progress is logged, an interrupted run resumes, and the migration is recorded only at the
end; on PostgreSQL the index is built concurrently and one left invalid is built again."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest

from backend.storage import open_database
from backend.storage.migrations import (
    Backfill,
    Migration,
    applied,
    apply_migrations,
    fill_tokens,
)
from pool.store import Store, Tx

ROWS = 50_000
BATCH = 5_000
SHOUT = Migration(
    9001,
    "shout",
    ("ALTER TABLE notes ADD COLUMN loud TEXT",),
    fill=Backfill(table="notes", set="loud = upper(body)", pending="loud IS NULL", batch=BATCH),
    concurrent_indexes=("CREATE INDEX notes_loud ON notes (loud)",),
)
# A guard against a hang, never a measure: each wait below ends at once when nothing blocks.
GUARD_S = 60


class Boom(Exception):
    """The crash injected between two batches."""


async def _crash_at_batch(db: Store, crash_at: int) -> None:
    """Apply SHOUT to ``db`` and crash (Boom) once ``crash_at`` batches are done."""

    async def crash(migration: Migration, batches: int) -> None:
        if batches == crash_at:
            raise Boom

    with pytest.raises(Boom):
        await apply_migrations(db, migrations=[SHOUT], on_batch=crash)


@pytest.fixture
async def instances(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two instances (two processes' worth of connections) on one database holding
    ``notes``: ROWS rows written before the migration, none of them filled."""
    first = await open_database(database_url)
    second = await open_database(database_url)
    try:
        async with first.write() as tx:
            await tx.execute(
                fill_tokens(
                    "CREATE TABLE notes (id {pk}, body TEXT NOT NULL,"
                    " kind TEXT NOT NULL DEFAULT 'a')",
                    first.dialect,
                )
            )
            await tx.execute(
                "INSERT INTO notes (body) WITH RECURSIVE n(i) AS"
                " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)"
                " SELECT 'note ' || i FROM n",
                {"rows": ROWS},
            )
        yield first, second
    finally:
        await second.close()
        await first.close()


async def _insert_note(tx: Tx) -> None:
    # What a running instance of the version before the migration writes: no `loud`.
    await tx.execute("INSERT INTO notes (body) VALUES ('written meanwhile')")


async def _recorded(db: Store) -> bool:
    return SHOUT.version in await applied(db)


async def _unfilled(db: Store) -> int:
    return int(
        await db.fetchval("SELECT COUNT(*) FROM notes WHERE loud IS NULL OR loud <> upper(body)")
    )


async def test_the_backfill_lets_another_instance_write_the_table_meanwhile(
    instances: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    db, other = instances
    events: list[str] = []
    stop = asyncio.Event()
    wrote = asyncio.Event()

    async def writer() -> None:
        # The other instance's visits: one short unit after another, all along.
        while not stop.is_set():
            await other.transact(_insert_note)
            events.append("insert")
            wrote.set()
            await asyncio.sleep(0)

    async def on_batch(migration: Migration, batches: int) -> None:
        events.append(f"batch {batches}")
        if batches in (2, 5):
            # Midway: the table is open to the other instance's writes, and nothing is
            # recorded yet.
            wrote.clear()
            await asyncio.wait_for(wrote.wait(), GUARD_S)
            assert not await _recorded(other)
            assert (
                await other.fetchval(
                    "SELECT step FROM schema_migration_progress WHERE version = 9001"
                )
                == "backfill"
            )
        if batches == 5:
            stop.set()
            await asyncio.wait_for(task, GUARD_S)

    task = asyncio.create_task(writer())
    try:
        with caplog.at_level(logging.INFO, logger="callpath.migrations"):
            assert await apply_migrations(db, migrations=[SHOUT], on_batch=on_batch) == [SHOUT]
    finally:
        stop.set()
        await task
    events.append("recorded")

    # Inserts completed between batches of the backfill, long before it ended.
    batches = [i for i, e in enumerate(events) if e.startswith("batch")]
    inserts = [i for i, e in enumerate(events) if e == "insert"]
    assert len(batches) >= ROWS // BATCH
    assert any(batches[0] < i < batches[-1] for i in inserts)
    assert max(inserts) < batches[-1] < events.index("recorded")
    # Every row is filled, the rows the other instance wrote meanwhile included.
    written = await db.fetchval("SELECT COUNT(*) FROM notes WHERE body = 'written meanwhile'")
    assert written == len(inserts) > 0
    assert await _unfilled(db) == 0
    assert await _recorded(db)
    assert await db.fetchval("SELECT COUNT(*) FROM schema_migration_progress") == 0

    messages = [r.getMessage() for r in caplog.records if r.name == "callpath.migrations"]
    assert "migration 9001 shout: starting" in messages
    progress = [
        m for m in messages if re.fullmatch(r"migration 9001 shout: [\d,]+ / [\d,]+ notes", m)
    ]
    assert len(progress) >= 5, messages
    assert any(m.startswith("migration 9001 shout: index notes_loud built in") for m in messages)
    assert any(re.fullmatch(r"migration 9001 shout: applied in [\d.]+ s", m) for m in messages)


async def test_an_interrupted_backfill_resumes_and_records_only_at_the_end(
    instances: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    db, other = instances

    await _crash_at_batch(db, 3)
    # Three batches' worth is filled and remembered; the migration is not recorded.
    assert not await _recorded(db)
    progress = await db.fetchone("SELECT step, last_id FROM schema_migration_progress")
    assert progress is not None and progress["step"] == "backfill"
    third = await db.fetchval(
        "SELECT id FROM notes ORDER BY id LIMIT 1 OFFSET :n", {"n": 3 * BATCH - 1}
    )
    assert progress["last_id"] == third
    assert await db.fetchval("SELECT COUNT(*) FROM notes WHERE loud IS NOT NULL") == 3 * BATCH

    # Rows written meanwhile by a running instance are walked too.
    for _ in range(3):
        await other.transact(_insert_note)
    resumed: list[int] = []

    async def count(migration: Migration, batches: int) -> None:
        resumed.append(batches)
        assert not await _recorded(other)

    with caplog.at_level(logging.INFO, logger="callpath.migrations"):
        assert await apply_migrations(other, migrations=[SHOUT], on_batch=count) == [SHOUT]
    # Only the batches not done before: the schema change did not run again.
    assert resumed == list(range(1, ROWS // BATCH - 3 + 2))
    assert await _unfilled(db) == 0
    assert await _recorded(db)
    assert await db.fetchval("SELECT COUNT(*) FROM schema_migration_progress") == 0
    messages = [r.getMessage() for r in caplog.records]
    assert "migration 9001 shout: resuming an interrupted run at step backfill" in messages
    assert "migration 9001 shout: filling notes in batches of 5,000 rows from 15,000 / 50,003" in (
        messages
    )
    # Nothing left to do.
    assert await apply_migrations(db, migrations=[SHOUT]) == []


async def test_the_walk_ends_though_rows_keep_coming(instances: tuple[Store, Store]) -> None:
    # A busy instance adds rows all the time: the walk goes to the last row there was when
    # it started, then once to the last there is then, and stops rather than chase them.
    db, other = instances
    batches: list[int] = []

    async def one_more(migration: Migration, done: int) -> None:
        batches.append(done)
        await other.transact(_insert_note)

    applying = apply_migrations(db, migrations=[SHOUT], on_batch=one_more)
    assert await asyncio.wait_for(applying, GUARD_S) == [SHOUT]
    # Ten batches to the first end, one for the ten rows added meanwhile; the row added
    # after that one is left to the application.
    assert batches == list(range(1, ROWS // BATCH + 2))
    assert await _unfilled(db) == 1


@pytest.mark.stores("postgresql")
async def test_postgresql_builds_the_index_concurrently_and_rebuilds_an_invalid_one(
    instances: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    db, _ = instances

    await _crash_at_batch(db, 1)
    # A build interrupted the way a concurrent one can be: it leaves an invalid index,
    # which IF NOT EXISTS alone would keep.
    conn = await asyncpg.connect(getattr(db, "dsn"))  # noqa: B009
    try:
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("CREATE UNIQUE INDEX CONCURRENTLY notes_loud ON notes (kind)")
    finally:
        await conn.close()
    assert await _index(db) == (False, "(kind)")

    with caplog.at_level(logging.INFO, logger="callpath.migrations"):
        assert await apply_migrations(db, migrations=[SHOUT]) == [SHOUT]
    valid, columns = await _index(db)
    assert valid and columns == "(loud)"
    assert any("was left invalid by an interrupted build" in r.getMessage() for r in caplog.records)
    assert any("building index notes_loud concurrently" in r.getMessage() for r in caplog.records)
    assert await _unfilled(db) == 0


async def _index(db: Store) -> tuple[bool, str]:
    row = await db.fetchone(
        "SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'notes_loud'"
    )
    assert row is not None
    return bool(row["valid"]), row["def"][row["def"].index("(") :]


@pytest.mark.stores("postgresql")
async def test_a_schema_change_waiting_for_a_busy_table_lets_visits_through(
    instances: tuple[Store, Store], caplog: pytest.LogCaptureFixture
) -> None:
    # An export reading `notes` holds it (ACCESS SHARE) for as long as it streams. The
    # ALTER waits for it, and every statement touching the table queues behind the ALTER:
    # the schema unit lets go after a second and tries again, so visits get through between.
    db, other = instances
    widen = Migration(9002, "widen", ("ALTER TABLE notes ADD COLUMN extra TEXT",))
    retried = asyncio.Event()

    class Retries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "trying again" in record.getMessage():
                retried.set()

    logger = logging.getLogger("callpath.migrations")
    handler = Retries()
    logger.addHandler(handler)
    export = await asyncpg.connect(getattr(db, "dsn"))  # noqa: B009
    try:
        await export.execute("BEGIN; SELECT COUNT(*) FROM notes")
        with caplog.at_level(logging.INFO, logger="callpath.migrations"):
            migrating = asyncio.create_task(apply_migrations(db, migrations=[widen]))
            await asyncio.wait_for(retried.wait(), GUARD_S)
            await asyncio.wait_for(other.transact(_insert_note), GUARD_S)
            assert not migrating.done()
            await export.execute("COMMIT")
            assert await asyncio.wait_for(migrating, GUARD_S) == [widen]
    finally:
        logger.removeHandler(handler)
        await export.close()
    assert await db.fetchval("SELECT COUNT(*) FROM notes WHERE body = 'written meanwhile'") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM notes WHERE extra IS NOT NULL") == 0
