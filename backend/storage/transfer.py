"""Moving from SQLite to PostgreSQL: copy every table, then prove the copy.

The source is read in one read transaction (one snapshot, even with a server still
writing). The target is migrated to the same schema first and must be empty. Everything
is written in one PostgreSQL transaction: tables in foreign-key order (a row's parents
first), rows in batches with ``COPY``, the id sequences moved past the copied ids, and
then, still inside the transaction, every table's row count and a checksum over all its
rows compared with the source. Any difference rolls the whole copy back.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from backend.storage.backup import BUSY_TIMEOUT_MS, user_tables
from backend.storage.postgres import PostgresDatabase

BATCH_ROWS = 5_000
# Bookkeeping that the target has of its own (its migrations were applied, not copied;
# with them their fills' progress).
NOT_COPIED = frozenset({"schema_migrations", "schema_backfills", "schema_migration_progress"})


@dataclass
class TableCopy:
    """One table's copy: rows on both sides and whether their checksums agree."""

    table: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


class NotEmpty(ValueError):
    """The target already holds rows (``force`` empties it first)."""


class Mismatch(ValueError):
    """The copy differs from the source; nothing was committed."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def foreign_key_order(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """``tables`` with every table after the tables its foreign keys point at."""
    names = set(tables)
    parents = {
        t: {str(r[2]) for r in conn.execute(f"PRAGMA foreign_key_list({_quote(t)})")} & names - {t}
        for t in tables
    }
    ordered: list[str] = []
    while len(ordered) < len(tables):
        placed = set(ordered)
        ready = [t for t in tables if t not in placed and parents[t] <= placed]
        if not ready:
            raise ValueError(f"foreign keys form a cycle among {sorted(names - placed)}")
        ordered += ready
    return ordered


def _key_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The primary key's columns (every column when there is none): a stable row order."""
    info = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    keyed = sorted((r for r in info if r[5]), key=lambda r: r[5])
    return [str(r[1]) for r in keyed] or [str(r[1]) for r in info]


class RowSum:
    """A checksum of a table's rows in any order (the stores sort text differently): the
    sum of every row's SHA-256, so a changed, missing or extra row changes it."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, row: Iterable[Any]) -> None:
        # The same value reads back as the same Python value from both stores (integers
        # and text; no floats or blobs in callpath's schema), so its repr is comparable.
        digest = hashlib.sha256(repr(tuple(row)).encode()).digest()
        self.total = (self.total + int.from_bytes(digest, "big")) % 2**256
        self.count += 1

    def hexdigest(self) -> str:
        return f"{self.total:064x}"


def portable(row: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    """``row`` as PostgreSQL can store it, and how many of its values had to change.

    PostgreSQL's text cannot hold the NUL character at all, and SQLite stores whatever it
    is given: before control characters were kept out of query values, a ``%00`` in a
    keyword was stored as it came. Such a value is copied without its NULs (and counted);
    nothing else is ever changed.
    """
    if not any(isinstance(v, str) and "\x00" in v for v in row):
        return 0, row
    changed = sum(1 for v in row if isinstance(v, str) and "\x00" in v)
    return changed, tuple(v.replace("\x00", "") if isinstance(v, str) else v for v in row)


class SourceSnapshot:
    """The SQLite database as of one moment (a read transaction held until closed)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        uri = f"{path.resolve().as_uri()}?mode=ro"
        self.conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}").close()
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()  # the snapshot
        self.nul_stripped: dict[str, int] = {}

    def close(self) -> None:
        self.conn.close()

    def tables(self) -> list[str]:
        return foreign_key_order(
            self.conn, [t for t in user_tables(self.conn) if t not in NOT_COPIED]
        )

    def columns(self, table: str) -> list[str]:
        return [str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({_quote(table)})")]

    def definition(self, table: str) -> str:
        """The ``CREATE TABLE`` statement SQLite keeps for ``table``."""
        row = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return str(row[0])

    def versions(self) -> list[int]:
        return [int(r[0]) for r in self.conn.execute("SELECT version FROM schema_migrations")]

    def batches(self, table: str, columns: list[str]) -> Iterable[list[tuple[Any, ...]]]:
        """The rows of ``table`` in batches, each as PostgreSQL can hold it (:func:`portable`);
        :attr:`nul_stripped` counts the text values that lost a NUL on the way."""
        order = ", ".join(_quote(c) for c in _key_columns(self.conn, table))
        cols = ", ".join(_quote(c) for c in columns)
        cursor = self.conn.execute(f"SELECT {cols} FROM {_quote(table)} ORDER BY {order}")
        self.nul_stripped[table] = 0
        try:
            while rows := cursor.fetchmany(BATCH_ROWS):
                out = []
                for row in rows:
                    changed, fixed = portable(row)
                    self.nul_stripped[table] += changed
                    out.append(fixed)
                yield out
        finally:
            cursor.close()

    def checksum(self, table: str, columns: list[str]) -> tuple[int, str]:
        """Rows and :class:`RowSum` of ``table``."""
        total = RowSum()
        for rows in self.batches(table, columns):
            for row in rows:
                total.add(row)
        return total.count, total.hexdigest()


async def copy_to_postgres(
    source: SourceSnapshot,
    target: PostgresDatabase,
    *,
    force: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> list[TableCopy]:
    """Copy every table of ``source`` into the migrated, empty ``target`` and verify it."""
    applied = await target.fetchall("SELECT version FROM schema_migrations")
    theirs = {int(r["version"]) for r in applied}
    ours = set(source.versions())
    if ours != theirs:
        raise ValueError(
            f"schema versions differ: SQLite has {sorted(ours - theirs)} that PostgreSQL has"
            f" not, PostgreSQL {sorted(theirs - ours)} that SQLite has not; both must have"
            " this callpath's migrations (a newer callpath migrated one of them?)"
        )
    tables = source.tables()
    results = []
    async with target.pool.acquire() as conn:
        await conn.execute(
            "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; SET LOCAL statement_timeout = 0"
        )
        try:
            for table in tables:
                if await conn.fetchval("SELECT to_regclass($1)", _quote(table)) is None:
                    # Not made by a migration (the demo's own table): its SQLite definition,
                    # written in the SQL both stores take, makes it.
                    await conn.execute(source.definition(table))
                    say(f"created {table} as SQLite defines it")
            await _empty(conn, tables, force=force)
            for table in tables:
                columns = source.columns(table)
                copied = 0
                for batch in source.batches(table, columns):
                    try:
                        await conn.copy_records_to_table(table, records=batch, columns=columns)
                    except asyncpg.PostgresError as exc:
                        raise ValueError(f"copying {table} failed: {exc}") from exc
                    copied += len(batch)
                stripped = source.nul_stripped.get(table, 0)
                note = f", {stripped} text values without their NUL character" if stripped else ""
                say(f"copied {table}: {copied} rows{note}")
                await _advance_sequences(conn, table, columns)
            for table in tables:
                columns = source.columns(table)
                n, digest = source.checksum(table, columns)
                m, theirs_sum = await _target_checksum(conn, table, columns)
                results.append(TableCopy(table, n, m, digest, theirs_sum))
            bad = [r for r in results if not r.ok]
            if bad:
                raise Mismatch(
                    "the copy differs from the source in "
                    + ", ".join(f"{r.table} ({r.source_rows} vs {r.target_rows} rows)" for r in bad)
                    + "; nothing was committed"
                )
        except BaseException:
            # A failed rollback (the connection broke) must not hide the first error.
            with contextlib.suppress(Exception):
                if not conn.is_closed():
                    await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return results


async def _empty(conn: Any, tables: list[str], *, force: bool) -> None:
    full = [t for t in tables if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_quote(t)})")]
    if not full:
        return
    if not force:
        raise NotEmpty(
            "the PostgreSQL database already holds rows in "
            + ", ".join(full)
            + " (--force deletes every row of callpath's tables there first)"
        )
    await conn.execute(
        "TRUNCATE " + ", ".join(_quote(t) for t in tables) + " RESTART IDENTITY CASCADE"
    )


async def _advance_sequences(conn: Any, table: str, columns: list[str]) -> None:
    """Move each serial column's sequence past the ids just copied, so the next row that
    PostgreSQL numbers does not collide with a copied one."""
    for column in columns:
        seq = await conn.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, column)
        if seq is None:
            continue
        top = await conn.fetchval(f"SELECT MAX({_quote(column)}) FROM {_quote(table)}")
        if top is None:
            await conn.execute("SELECT setval($1::regclass, 1, false)", seq)
        else:
            await conn.execute("SELECT setval($1::regclass, $2)", seq, int(top))


async def _target_checksum(conn: Any, table: str, columns: list[str]) -> tuple[int, str]:
    cols = ", ".join(_quote(c) for c in columns)
    total = RowSum()
    # A server-side cursor: a big table is never all in memory (we are in a transaction).
    async for record in conn.cursor(f"SELECT {cols} FROM {_quote(table)}", prefetch=BATCH_ROWS):
        total.add(record.values())
    return total.count, total.hexdigest()
