"""Numbered migrations, recorded in ``schema_migrations``.

Each migration is a module ``mNNNN_name.py`` in this package defining ``STATEMENTS``: a list
of SQL statements written once for both stores. Tokens are replaced per dialect: ``{pk}``
(an auto-numbered integer primary key), ``{json}`` (a JSON document column),
``{strpos}`` (the position of a substring, 1-based, 0 when absent: ``instr`` / ``strpos``)
and ``{clustered}`` after a table's definition (SQLite stores the table in its primary key's
order, ``WITHOUT ROWID``; nothing on PostgreSQL).
A module may add ``DIALECT_STATEMENTS``, a dict of statements per dialect (``sqlite``,
``postgresql``) run after ``STATEMENTS`` in the same unit, for what only one store has
(0041: SQLite's FTS5 table, PostgreSQL's text-search index).
A migration runs inside one unit of work and is recorded in the same unit, so a crash
never leaves it half applied (PostgreSQL runs DDL in transactions too). Several app
instances starting at once on one PostgreSQL database take turns through a transaction-level
advisory lock; on SQLite the single writer (``BEGIN IMMEDIATE``) already serialises them.
On PostgreSQL that unit lets go of a table lock it has waited ``SCHEMA_LOCK_TIMEOUT_MS``
for and tries again (see :func:`schema_unit`). Each migration logs when it starts and how
long it took (logger ``callpath.migrations``).

A long migration (one that fills a column of a big table, or indexes one) would hold that
unit, and with it the table, for as long as it runs: every visit of every running instance
waits. Such a module keeps only the schema change in ``STATEMENTS`` and declares the rest,
run outside that unit by :mod:`backend.storage.migrations.stepwise`:

- ``FILL``: a :class:`Backfill`, an ``UPDATE`` run in batches of rows, each batch a short
  unit of its own, with progress logged;
- ``CONCURRENT_INDEXES``: ``CREATE [UNIQUE] INDEX name ON table (...)`` statements, built
  ``CONCURRENTLY`` on PostgreSQL (writes go on meanwhile), plainly on SQLite.

Such a migration is recorded only once every part is done; one interrupted (a crash, a
restart) resumes where it stopped the next time migrations run. Instances that find another
one migrating wait for it without holding anything a running instance needs.

The older form, kept for 0018 (whose fill may still be under way on a database): a
``BACKFILL`` string (one statement updating the rows of ``BACKFILL_TABLE`` whose ``id`` is
in ``(:lo, :hi]``). The unit that applies the migration records it and the table's highest
id then (rows written later were written by the new code and are left alone); the fill then
runs in batches of ``BACKFILL_BATCH`` ids, each batch its own unit together with its
progress in ``schema_backfills``, logged as it goes (:func:`run_backfills`, at every start).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from pool.store import Store, Tx, now_ms

log = logging.getLogger("callpath.migrations")
BACKFILL_BATCH = 5000

_TOKENS = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "json": "TEXT",
        "strpos": "instr",
        "clustered": "WITHOUT ROWID",
    },
    "postgresql": {
        "pk": "BIGSERIAL PRIMARY KEY",
        "json": "TEXT",
        "strpos": "strpos",
        "clustered": "",
    },
}

# What a CONCURRENT_INDEXES entry must look like: the store decides how it is built.
INDEX_STATEMENT = re.compile(r"\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(\w+)\s+(ON\s.+)", re.I | re.S)


def fill_tokens(sql: str, dialect: str) -> str:
    """``sql`` with this dialect's ``{pk}`` / ``{json}`` / ``{strpos}`` / ``{clustered}``
    filled in."""
    for token, value in _TOKENS[dialect].items():
        sql = sql.replace("{" + token + "}", value)
    return sql


@dataclass(frozen=True)
class Backfill:
    """Rows of ``table`` filled in after the schema change, ``batch`` rows per unit of work.

    Each batch runs ``UPDATE table SET <set> WHERE key in the batch's range AND (<pending>)``
    and moves the recorded position on in the same unit. ``key`` is an integer primary key
    (batches walk it in order); ``pending`` is true for a row still to fill and false once
    it is filled, so a batch run twice changes nothing the second time, and rows written
    meanwhile by the application itself are left as it wrote them.
    """

    table: str
    set: str
    pending: str
    key: str = "id"
    batch: int = 5_000

    def for_dialect(self, dialect: str) -> Backfill:
        """This backfill with the dialect's tokens filled in."""
        return replace(
            self, set=fill_tokens(self.set, dialect), pending=fill_tokens(self.pending, dialect)
        )


@dataclass(frozen=True)
class Migration:
    """One numbered change of schema."""

    version: int
    name: str
    statements: tuple[str, ...]
    backfill: str = ""  # an UPDATE of ``backfill_table`` rows with ``:lo < id <= :hi``
    backfill_table: str = ""
    fill: Backfill | None = None  # see stepwise.py
    concurrent_indexes: tuple[str, ...] = ()
    # Statements of one dialect only, run after ``statements``: (dialect, statements).
    by_dialect: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        for statement in self.concurrent_indexes:
            if not INDEX_STATEMENT.fullmatch(statement):
                raise ValueError(f"migration {self.version:04d}: not an index: {statement!r}")

    @property
    def label(self) -> str:
        """How logs name it: ``0011 landing_page``."""
        return f"{self.version:04d} {self.name}"

    @property
    def stepwise(self) -> bool:
        """Whether parts of it run outside the schema change's unit of work."""
        return self.fill is not None or bool(self.concurrent_indexes)

    def sql(self, dialect: str) -> list[str]:
        """The statements with this dialect's types filled in."""
        own = [s for d, group in self.by_dialect if d == dialect for s in group]
        return [fill_tokens(s, dialect) for s in (*self.statements, *own)]


def all_migrations() -> list[Migration]:
    """Every migration shipped, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("m") or not info.name[1:5].isdigit():
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(
            Migration(
                int(info.name[1:5]),
                info.name[6:],
                tuple(module.STATEMENTS),
                getattr(module, "BACKFILL", ""),
                getattr(module, "BACKFILL_TABLE", ""),
                getattr(module, "FILL", None),
                tuple(getattr(module, "CONCURRENT_INDEXES", ())),
                tuple(
                    (dialect, tuple(group))
                    for dialect, group in getattr(module, "DIALECT_STATEMENTS", {}).items()
                ),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


# Any fixed 64-bit number; every callpath instance asks for the same one.
MIGRATION_LOCK_KEY = 0x63616C6C70617468  # "callpath"
# How long a schema change waits for a table that running transactions hold (an export
# reading `sessions`) before it lets go and tries again: while it waits, every statement
# touching the table queues behind it, so visits would wait as long.
SCHEMA_LOCK_TIMEOUT_MS = 1_000
_LOCK_NOT_AVAILABLE = "55P03"

# Called after each batch of a backfill with the migration and the batches done so far.
OnBatch = Callable[[Migration, int], Awaitable[None]]


async def _serialise(tx: Tx, dialect: str) -> None:
    """Make concurrent migrators wait for each other until this unit ends."""
    if dialect == "postgresql":
        await tx.fetchval("SELECT pg_advisory_xact_lock(:k)", {"k": MIGRATION_LOCK_KEY})


async def _ensure_table(db: Store) -> None:
    # Under the lock: two concurrent CREATE TABLE IF NOT EXISTS can collide on PostgreSQL.
    async with db.write() as tx:
        await _serialise(tx, db.dialect)
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
        )
        # A migration's batched fill: done up to done_id, of rows up to end_id.
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_backfills ("
            " version INTEGER PRIMARY KEY, done_id BIGINT NOT NULL, end_id BIGINT NOT NULL)"
        )
        # Where a stepwise migration begun but not recorded stands (see stepwise.py).
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration_progress ("
            " version INTEGER PRIMARY KEY, step TEXT NOT NULL, last_id BIGINT NOT NULL,"
            " updated_ms BIGINT NOT NULL)"
        )


async def applied(db: Store) -> list[int]:
    """Versions already applied to this database."""
    await _ensure_table(db)
    rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in rows]


async def pending(db: Store, migrations: Sequence[Migration] | None = None) -> list[Migration]:
    """Migrations not yet applied, in order (of ``migrations``, else of every one shipped)."""
    done = set(await applied(db))
    shipped = all_migrations() if migrations is None else sorted(migrations, key=_version)
    return [m for m in shipped if m.version not in done]


def _version(migration: Migration) -> int:
    return migration.version


async def is_recorded(tx: Tx, version: int) -> bool:
    """Whether ``version`` is recorded as applied, seen from inside a unit of work."""
    found = await tx.fetchval("SELECT 1 FROM schema_migrations WHERE version = :v", {"v": version})
    return bool(found)


async def record(tx: Tx, migration: Migration) -> None:
    """Record ``migration`` as applied, in the unit that finishes it."""
    await tx.execute(
        "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, :t)",
        {"v": migration.version, "n": migration.name, "t": now_ms()},
    )


async def schema_unit(
    db: Store, migration: Migration, body: Callable[[Tx], Awaitable[bool]]
) -> bool:
    """Run ``body(tx)`` in a unit holding the migration lock; return what it returns.

    On PostgreSQL a statement that waits more than ``SCHEMA_LOCK_TIMEOUT_MS`` for a table
    lock gives up, the unit is rolled back, and it is tried again a moment later, so that
    the visits queued behind its lock request go through in between.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            async with db.write() as tx:
                await _serialise(tx, db.dialect)
                if db.dialect == "postgresql":
                    # After the advisory lock: waiting for another migrator is no fault.
                    await tx.fetchval(
                        "SELECT set_config('lock_timeout', :ms, true)",
                        {"ms": str(SCHEMA_LOCK_TIMEOUT_MS)},
                    )
                return await body(tx)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            log.warning(
                "migration %s: a table it changes is in use by another transaction;"
                " trying again (attempt %d)",
                migration.label,
                attempt,
            )
            await asyncio.sleep(min(0.25 * attempt, 5.0))


async def _apply_plain(db: Store, migration: Migration) -> bool:
    """Apply a migration made of ``STATEMENTS`` only, in one unit; whether this did it."""

    async def body(tx: Tx) -> bool:
        # Checked again inside the unit: another process may have applied it meanwhile.
        if await is_recorded(tx, migration.version):
            return False
        for statement in migration.sql(db.dialect):
            await tx.execute(statement)
        if migration.backfill:
            end = await tx.fetchval(f"SELECT COALESCE(MAX(id), 0) FROM {migration.backfill_table}")
            await tx.execute(
                "INSERT INTO schema_backfills (version, done_id, end_id) VALUES (:v, 0, :e)",
                {"v": migration.version, "e": int(end)},
            )
        await record(tx, migration)
        return True

    return await schema_unit(db, migration, body)


async def apply_migrations(
    db: Store,
    *,
    migrations: Sequence[Migration] | None = None,
    on_batch: OnBatch | None = None,
) -> list[Migration]:
    """Apply every pending migration; return what was applied (nothing the second time).

    ``migrations`` defaults to every one shipped. ``on_batch`` is awaited after each batch
    of a backfill, outside its unit of work (tests act there between batches).
    """
    from backend.storage.migrations import stepwise

    if not await pending(db, migrations):
        await run_backfills(db)
        return []
    ran = []
    async with stepwise.migrator(db) as direct:
        # Again, now that no other instance is migrating: it may have done it all.
        for migration in await pending(db, migrations):
            started = time.monotonic()
            log.info("migration %s: starting", migration.label)
            if migration.stepwise:
                done = await stepwise.apply(db, migration, direct, on_batch)
            else:
                done = await _apply_plain(db, migration)
            if done:
                log.info(
                    "migration %s: applied in %.1f s", migration.label, time.monotonic() - started
                )
                ran.append(migration)
            else:
                log.info("migration %s: applied meanwhile by another process", migration.label)
        await run_backfills(db)
    return ran


async def run_backfills(db: Store, batch: int | None = None) -> int:
    """Run the batched fills of applied migrations to their end; return the batches run.

    Each batch is one unit of work: it reads its progress, updates the next ``batch`` ids
    and records the progress, under the migration lock (instances starting together on
    PostgreSQL take turns, and none repeats another's batch).
    """
    size = batch or BACKFILL_BATCH
    # Usually nothing is left: one read, no unit of work, at every start.
    left = await db.fetchall("SELECT version FROM schema_backfills WHERE done_id < end_id")
    fills = {m.version: m for m in all_migrations() if m.backfill}
    done = 0
    for version in sorted(int(r["version"]) for r in left if int(r["version"]) in fills):
        migration = fills[version]
        while True:
            async with db.write() as tx:
                await _serialise(tx, db.dialect)
                row = await tx.fetchone(
                    "SELECT done_id, end_id FROM schema_backfills WHERE version = :v",
                    {"v": version},
                )
                if row is None or row["done_id"] >= row["end_id"]:
                    break
                lo, end = int(row["done_id"]), int(row["end_id"])
                hi = min(lo + size, end)
                await tx.execute(migration.backfill, {"lo": lo, "hi": hi})
                await tx.execute(
                    "UPDATE schema_backfills SET done_id = :hi WHERE version = :v",
                    {"hi": hi, "v": version},
                )
            done += 1
            if done == 1 or hi == end or done % 20 == 0:
                log.info(
                    "migration %04d %s: filled %s ids %d of %d",
                    version,
                    migration.name,
                    migration.backfill_table,
                    hi,
                    end,
                )
    return done
