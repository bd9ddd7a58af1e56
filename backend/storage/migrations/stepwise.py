"""Long migrations in steps that never hold a table for long.

A migration with a ``FILL`` or ``CONCURRENT_INDEXES`` (see the package's docstring) runs
as:

1. the schema change (``STATEMENTS``: adding a column with a default is quick on both
   stores) in one unit holding the migration lock, which also writes a row of
   ``schema_migration_progress`` for it: step ``backfill`` (or ``indexes``), position;
2. the backfill, one short unit per batch of ``Backfill.batch`` rows walked in primary-key
   order; each batch moves the position on in its own unit, so an interruption loses at
   most the batch under way. The walk goes to the last row there is when it starts, then
   once more to the last row there is when it gets there (rows inserted meanwhile), and
   stops. Progress is logged at each tenth;
3. the indexes: on PostgreSQL ``CREATE INDEX CONCURRENTLY IF NOT EXISTS``, which cannot run
   in a transaction and lets writes go on while it builds; one left invalid by an
   interrupted build is dropped and built again. SQLite has no such thing: a plain
   ``CREATE INDEX IF NOT EXISTS`` in a unit of its own, which holds the writer while it
   builds;
4. one unit that records the migration in ``schema_migrations`` and deletes its progress
   row. Until then the migration is pending, and whoever runs migrations next resumes it.

Instances on one PostgreSQL database: the one migrating holds a session-level advisory lock
(``MIGRATOR_LOCK_KEY``) on a connection of its own for the whole run; the others wait for it
by asking ``pg_try_advisory_lock`` every ``POLL_S`` seconds, outside any transaction. They
must not wait inside a statement: ``CREATE INDEX CONCURRENTLY`` waits for every transaction
whose snapshot is older than its own, a statement blocked on a lock keeps its snapshot, and
that waiter would wait for the build in turn: neither would ever end. The short units
(schema change, record) still take ``MIGRATION_LOCK_KEY`` as every earlier callpath does,
so an instance of an older version starting meanwhile takes turns with them too; it never
waits on the migrator's own lock. Visits take neither lock: between batches they only meet
the row locks of one batch, for as long as that batch runs.

On SQLite every step runs in a unit of the single writer and reads where the migration
stands inside that unit, so two processes migrating at once share the work rather than
repeat it. A pause between batches (as long as the batch took, at least ``MIN_PAUSE_S``)
lets the writers of other processes, which retry ``BEGIN IMMEDIATE`` every 50 ms at most,
have the file in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from backend.storage.migrations import (
    INDEX_STATEMENT,
    Migration,
    OnBatch,
    is_recorded,
    record,
    schema_unit,
)
from pool.store import Store, Tx, now_ms

log = logging.getLogger("callpath.migrations")

# Another fixed number, not MIGRATION_LOCK_KEY: older instances wait on that one blocking.
MIGRATOR_LOCK_KEY = 0x63616C6C70617469
POLL_S = 0.2
MIN_PAUSE_S = 0.06
MAX_PAUSE_S = 0.5


@contextlib.asynccontextmanager
async def migrator(db: Store) -> AsyncIterator[Any]:
    """Be the one instance migrating ``db`` while inside; yield PostgreSQL's connection.

    On PostgreSQL the connection (outside the pool, no statement timeout) holds the
    migrator lock and builds the concurrent indexes; on SQLite there is none (None).
    """
    if db.dialect != "postgresql":
        yield None
        return
    import asyncpg

    conn = await asyncpg.connect(
        getattr(db, "dsn"),  # noqa: B009 - PostgresDatabase's, not in the Store protocol
        server_settings={
            "application_name": getattr(db, "application_name", "callpath"),
            "statement_timeout": "0",
        },
    )
    try:
        waiting_since = None
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATOR_LOCK_KEY):
            if waiting_since is None:
                waiting_since = time.monotonic()
                log.info("migrations: another instance is migrating this database; waiting")
            await asyncio.sleep(POLL_S)
        if waiting_since is not None:
            log.info(
                "migrations: the other instance is done after %.1f s",
                time.monotonic() - waiting_since,
            )
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATOR_LOCK_KEY)
    finally:
        # Closing also lets the lock go if the unlock could not be sent.
        await conn.close()


async def apply(db: Store, migration: Migration, direct: Any, on_batch: OnBatch | None) -> bool:
    """Apply (or resume) a stepwise migration; whether this call recorded it."""
    progress = await db.fetchone(
        "SELECT step, last_id FROM schema_migration_progress WHERE version = :v",
        {"v": migration.version},
    )
    if progress is None:
        if not await _change_schema(db, migration):
            return False
    else:
        log.info(
            "migration %s: resuming an interrupted run at step %s",
            migration.label,
            progress["step"],
        )
    if migration.fill is not None:
        await _backfill(db, migration, on_batch)
    for statement in migration.concurrent_indexes:
        await _build_index(db, direct, migration, statement)
    return await _finish(db, migration)


async def _change_schema(db: Store, migration: Migration) -> bool:
    """Step 1; False when another process recorded the whole migration meanwhile."""
    started = time.monotonic()

    async def body(tx: Tx) -> bool:
        if await is_recorded(tx, migration.version):
            return False
        if await tx.fetchval(
            "SELECT 1 FROM schema_migration_progress WHERE version = :v", {"v": migration.version}
        ):
            return True  # another process changed the schema meanwhile
        for statement in migration.sql(db.dialect):
            await tx.execute(statement)
        start = -1
        if migration.fill is not None:
            fill = migration.fill
            start = await tx.fetchval(f"SELECT COALESCE(MIN({fill.key}), 0) - 1 FROM {fill.table}")
        await tx.execute(
            "INSERT INTO schema_migration_progress (version, step, last_id, updated_ms)"
            " VALUES (:v, :s, :p, :t)",
            {
                "v": migration.version,
                "s": "indexes" if migration.fill is None else "backfill",
                "p": int(start),
                "t": now_ms(),
            },
        )
        return True

    done = await schema_unit(db, migration, body)
    if done:
        log.info(
            "migration %s: schema changed in %.1f s", migration.label, time.monotonic() - started
        )
    return done


async def _backfill(db: Store, migration: Migration, on_batch: OnBatch | None) -> None:
    """Step 2: batches of short units until the walk reaches the table's end."""
    assert migration.fill is not None
    fill = migration.fill.for_dialect(db.dialect)
    table, key = fill.table, fill.key
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    position = await db.fetchone(
        "SELECT step, last_id FROM schema_migration_progress WHERE version = :v",
        {"v": migration.version},
    )
    if position is None or position["step"] != "backfill":
        return
    started = time.monotonic()
    total = int(await db.fetchval(f"SELECT COUNT(*) FROM {table}"))
    walked = int(
        await db.fetchval(
            f"SELECT COUNT(*) FROM {table} WHERE {key} <= :p", {"p": position["last_id"]}
        )
    )
    log.info(
        "migration %s: filling %s in batches of %s rows from %s / %s",
        migration.label,
        table,
        f"{fill.batch:,}",
        f"{walked:,}",
        f"{total:,}",
    )
    reported = walked * 10 // max(total, 1)
    batches = filled = 0
    # The walk ends at the last row there is when it starts, then once more at the last one
    # there is when it gets there (rows written meanwhile), and stops: chasing the rows a
    # busy instance keeps adding would never end.
    end = await _last_key(db, table, key)
    caught_up = False
    while True:
        batch_started = time.monotonic()
        async with db.write() as tx:
            at = await tx.fetchone(
                "SELECT step, last_id FROM schema_migration_progress WHERE version = :v" + lock,
                {"v": migration.version},
            )
            if at is None or at["step"] != "backfill":
                break  # another process finished it
            span = await tx.fetchone(
                f"SELECT MAX({key}) AS hi, COUNT(*) AS n FROM (SELECT {key} FROM {table}"
                f" WHERE {key} > :lo AND {key} <= :end ORDER BY {key} LIMIT :n) AS span",
                {"lo": at["last_id"], "end": end, "n": fill.batch},
            )
            count = int(span["n"]) if span else 0
            if count == 0 and not caught_up:
                caught_up = True
                end = await _last_key(tx, table, key)
                continue
            if count == 0:
                await tx.execute(
                    "UPDATE schema_migration_progress SET step = 'indexes', updated_ms = :t"
                    " WHERE version = :v",
                    {"v": migration.version, "t": now_ms()},
                )
                break
            assert span is not None
            filled += await tx.execute(
                f"UPDATE {table} SET {fill.set}"
                f" WHERE {key} > :lo AND {key} <= :hi AND ({fill.pending})",
                {"lo": at["last_id"], "hi": span["hi"]},
            )
            await tx.execute(
                "UPDATE schema_migration_progress SET last_id = :hi, updated_ms = :t"
                " WHERE version = :v",
                {"v": migration.version, "hi": span["hi"], "t": now_ms()},
            )
        batches += 1
        walked += count
        total = max(total, walked)
        log.debug("migration %s: %s / %s %s", migration.label, walked, total, table)
        if walked * 10 // total > reported:
            reported = walked * 10 // total
            log.info(
                "migration %s: %s / %s %s",
                migration.label,
                f"{walked:,}",
                f"{total:,}",
                table,
            )
        if on_batch is not None:
            await on_batch(migration, batches)
        if db.dialect == "sqlite":
            elapsed = time.monotonic() - batch_started
            await asyncio.sleep(min(max(elapsed, MIN_PAUSE_S), MAX_PAUSE_S))
    log.info(
        "migration %s: %s filled (%s rows changed) in %.1f s, %d batches",
        migration.label,
        table,
        f"{filled:,}",
        time.monotonic() - started,
        batches,
    )


async def _build_index(db: Store, direct: Any, migration: Migration, statement: str) -> None:
    """Step 3 for one index (see the module's docstring)."""
    match = INDEX_STATEMENT.fullmatch(statement)
    assert match is not None  # checked when the migration was loaded
    unique, name, rest = match.group(1) or "", match.group(2), match.group(3)
    started = time.monotonic()
    if db.dialect != "postgresql":
        async with db.write() as tx:
            await tx.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} {rest}")
        log.info("migration %s: index %s built in %.1f s", migration.label, name, _since(started))
        return
    valid = await direct.fetchval(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = lower($1) AND n.nspname = current_schema()",
        name,
    )
    if valid:
        return
    if valid is False:
        # IF NOT EXISTS would keep it as it is: never used, yet kept up by every write.
        log.warning(
            "migration %s: index %s was left invalid by an interrupted build; building it again",
            migration.label,
            name,
        )
        await direct.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    log.info(
        "migration %s: building index %s concurrently (it first waits for the transactions"
        " under way to end)",
        migration.label,
        name,
    )
    await direct.execute(f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {name} {rest}")
    log.info("migration %s: index %s built in %.1f s", migration.label, name, _since(started))


async def _finish(db: Store, migration: Migration) -> bool:
    """Step 4: record the migration and forget its progress, in one unit."""

    async def body(tx: Tx) -> bool:
        ours = not await is_recorded(tx, migration.version)
        if ours:
            await record(tx, migration)
        await tx.execute(
            "DELETE FROM schema_migration_progress WHERE version = :v", {"v": migration.version}
        )
        return ours

    return await schema_unit(db, migration, body)


async def _last_key(db: Store | Tx, table: str, key: str) -> int:
    return int(await db.fetchval(f"SELECT COALESCE(MAX({key}), 0) FROM {table}"))


def _since(started: float) -> float:
    return time.monotonic() - started
