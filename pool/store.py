"""The database handle the domain packages expect.

``backend.storage`` provides implementations (SQLite, PostgreSQL). SQL written against this
interface uses named parameters (``:name``), integer epoch milliseconds for time, integers
0/1 for flags, and ``RETURNING`` for generated ids; it runs unchanged on both stores. The one
place where the dialects differ in meaning, row locking, is exposed as :attr:`Store.dialect`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = dict[str, Any]
Params = Mapping[str, Any] | None


class Tx(Protocol):
    """One unit of work: every statement commits together or not at all."""

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for each parameter mapping."""
        ...

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        """First row of a query (it sees this unit's own writes), or None."""
        ...

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """All rows of a query."""
        ...

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        """First column of the first row, or None."""
        ...


class Store(Protocol):
    """A database: reads anywhere, writes in units of work."""

    dialect: str  # "sqlite" or "postgresql"

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        """First row of a read-only query, or None."""
        ...

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        """All rows of a read-only query."""
        ...

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        """First column of the first row of a read-only query, or None."""
        ...

    def iterate(self, sql: str, params: Params = None, batch: int = 500) -> AsyncIterator[Row]:
        """Stream the rows of a large read-only query with constant memory."""
        ...

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """Open a unit of work (SQLite: ``BEGIN IMMEDIATE`` on the single writer)."""
        ...

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one write statement as its own unit of work; return rows changed."""
        ...


def now_ms() -> int:
    """Current time as integer epoch milliseconds (UTC), the storage format of time."""
    return time.time_ns() // 1_000_000
