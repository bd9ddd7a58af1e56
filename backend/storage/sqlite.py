"""SQLite store on aiosqlite: WAL, one writer, readers on their own connections.

Every write goes through a single writer connection guarded by an asyncio lock, inside
``BEGIN IMMEDIATE``; two writers in this process therefore never race for the file lock,
and other processes (the CLI beside a running server) wait on ``busy_timeout`` instead of
failing with "database is locked".
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from pool.store import Params, Row

dialect = "sqlite"


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


async def _run(conn: aiosqlite.Connection, sql: str) -> None:
    async with conn.execute(sql):
        pass


class SQLiteTx:
    """A unit of work on the writer connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = None) -> int:
        cursor = await self._conn.execute(sql, params or {})
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        async with self._conn.execute(sql, params or {}) as cursor:
            row = await cursor.fetchone()
            # Drain so RETURNING statements finish before the next statement runs.
            await cursor.fetchall()
        return row  # type: ignore[return-value]

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        async with self._conn.execute(sql, params or {}) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else next(iter(row.values()))


class SQLiteDatabase:
    """The default store: one SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000, readers: int = 2):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._reader_count = max(1, readers)
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.count()
        self._write_lock = asyncio.Lock()

    async def _connect(self, *, read_only: bool) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = _dict_row
        pragmas = [
            f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}",
            "PRAGMA foreign_keys = ON",
            # NORMAL in WAL mode survives a crash of the process (not of the machine).
            "PRAGMA synchronous = NORMAL",
        ]
        if read_only:
            pragmas.append("PRAGMA query_only = ON")
        try:
            for pragma in pragmas:
                # Close each cursor: an unfinished statement would hold a lock on the file.
                async with conn.execute(pragma):
                    pass
        except BaseException:
            await conn.close()
            raise
        return conn

    async def open(self) -> None:
        """Open the writer and the reader connections; create the file when missing."""
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect(read_only=False)
        try:
            async with self._writer.execute("PRAGMA journal_mode = WAL") as cursor:
                await cursor.fetchall()
            for _ in range(self._reader_count):
                self._readers.append(await self._connect(read_only=True))
        except BaseException:
            # aiosqlite connections run on threads that would keep the process alive.
            await self.close()
            raise

    async def close(self) -> None:
        """Close every connection; the WAL is checkpointed by SQLite on last close."""
        for conn in self._readers:
            await conn.close()
        self._readers = []
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    def _reader(self) -> aiosqlite.Connection:
        if not self._readers:
            raise RuntimeError("database is not open")
        return self._readers[next(self._next_reader) % len(self._readers)]

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        async with self._reader().execute(sql, params or {}) as cursor:
            return await cursor.fetchone()  # type: ignore[return-value]

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        async with self._reader().execute(sql, params or {}) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else next(iter(row.values()))

    async def iterate(
        self, sql: str, params: Params = None, batch: int = 500
    ) -> AsyncIterator[Row]:
        # A connection of its own: a long export must not hold up the shared readers.
        conn = await self._connect(read_only=True)
        try:
            async with conn.execute(sql, params or {}) as cursor:
                while rows := await cursor.fetchmany(batch):
                    for row in rows:
                        yield row  # type: ignore[misc]
        finally:
            await conn.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SQLiteTx]:
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._write_lock:
            await _run(self._writer, "BEGIN IMMEDIATE")
            try:
                yield SQLiteTx(self._writer)
            except BaseException:
                await _run(self._writer, "ROLLBACK")
                raise
            else:
                await _run(self._writer, "COMMIT")

    async def execute(self, sql: str, params: Params = None) -> int:
        async with self.write() as tx:
            return await tx.execute(sql, params)
