"""Numbered migrations, recorded in ``schema_migrations``.

Each migration is a module ``mNNNN_name.py`` in this package defining ``STATEMENTS``: a list
of SQL statements written once for both stores. Tokens are replaced per dialect: ``{pk}``
(an auto-numbered integer primary key), ``{json}`` (a JSON document column) and
``{strpos}`` (the position of a substring, 1-based, 0 when absent: ``instr`` / ``strpos``).
A migration runs inside one unit of work and is recorded in the same unit, so a crash
never leaves it half applied (PostgreSQL runs DDL in transactions too).

A migration that fills a new column of a table that can be large defines ``BACKFILL``
(one statement updating the rows of ``BACKFILL_TABLE`` whose ``id`` is in ``(:lo, :hi]``)
instead of one UPDATE of the whole table: the unit that applies it records the table's
highest id then (rows written later were written by the new code and are left alone), and
the fill then runs in batches of ``BACKFILL_BATCH`` ids, each batch its own unit together
with its progress in ``schema_backfills``, logged as it goes. A crash resumes at the
next batch; no single transaction holds the whole table. Several app
instances starting at once on one PostgreSQL database take turns through a transaction-level
advisory lock; on SQLite the single writer (``BEGIN IMMEDIATE``) already serialises them.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass

from pool.store import Store, Tx, now_ms

log = logging.getLogger("callpath.migrations")
BACKFILL_BATCH = 5000

_TOKENS = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "json": "TEXT", "strpos": "instr"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "json": "TEXT", "strpos": "strpos"},
}


@dataclass(frozen=True)
class Migration:
    """One numbered change of schema."""

    version: int
    name: str
    statements: tuple[str, ...]
    backfill: str = ""  # an UPDATE of ``backfill_table`` rows with ``:lo < id <= :hi``
    backfill_table: str = ""

    def sql(self, dialect: str) -> list[str]:
        """The statements with this dialect's types filled in."""
        statements = list(self.statements)
        for token, value in _TOKENS[dialect].items():
            statements = [s.replace("{" + token + "}", value) for s in statements]
        return statements


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
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


# Any fixed 64-bit number; every callpath instance asks for the same one.
MIGRATION_LOCK_KEY = 0x63616C6C70617468  # "callpath"


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


async def applied(db: Store) -> list[int]:
    """Versions already applied to this database."""
    await _ensure_table(db)
    rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in rows]


async def pending(db: Store) -> list[Migration]:
    """Migrations not yet applied, in order."""
    done = set(await applied(db))
    return [m for m in all_migrations() if m.version not in done]


async def apply_migrations(db: Store) -> list[Migration]:
    """Apply every pending migration; return what was applied (nothing the second time)."""
    ran = []
    for migration in await pending(db):
        async with db.write() as tx:
            await _serialise(tx, db.dialect)
            # Checked again inside the unit: another process may have applied it meanwhile.
            if await tx.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = :v", {"v": migration.version}
            ):
                continue
            for statement in migration.sql(db.dialect):
                await tx.execute(statement)
            if migration.backfill:
                end = await tx.fetchval(
                    f"SELECT COALESCE(MAX(id), 0) FROM {migration.backfill_table}"
                )
                await tx.execute(
                    "INSERT INTO schema_backfills (version, done_id, end_id) VALUES (:v, 0, :e)",
                    {"v": migration.version, "e": int(end)},
                )
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, :t)",
                {"v": migration.version, "n": migration.name, "t": now_ms()},
            )
        ran.append(migration)
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
