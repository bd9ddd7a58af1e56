"""The database handle the domain packages expect.

``backend.storage`` provides implementations (SQLite, PostgreSQL). SQL written against this
interface uses named parameters (``:name``), integer epoch milliseconds for time, integers
0/1 for flags, and ``RETURNING`` for generated ids; it runs unchanged on both stores. The one
place where the dialects differ in meaning, row locking, is exposed as :attr:`Store.dialect`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ParamSpec, Protocol, TypeVar

Row = dict[str, Any]
Params = Mapping[str, Any] | None

_P = ParamSpec("_P")
_R = TypeVar("_R")

_D = TypeVar("_D")


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# How a column's value becomes a field's, by the field's type (a string where the module
# postpones annotations): SQLite keeps flags as 0/1, PostgreSQL may give counts as other
# integer types.
_CONVERT: dict[object, Callable[[Any], Any]] = {
    bool: bool,
    "bool": bool,
    int: int,
    "int": int,
    int | None: _int_or_none,
    "int | None": _int_or_none,
}
_FIELDS: dict[type, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {}


def _fields_of(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    plan = _FIELDS.get(cls)
    if plan is None:
        plan = _FIELDS[cls] = tuple((f.name, _CONVERT.get(f.type)) for f in dataclasses.fields(cls))
    return plan


def from_row(cls: type[_D], row: Mapping[str, Any], **columns: str) -> _D:
    """The dataclass ``cls`` made from a row with a column for each of its fields: the
    column of the field's name, or the one ``columns`` names for it (``lease_id="id"``).
    A field typed ``bool`` gets a bool, one typed ``int`` (or ``int | None``) an int (or
    None); others take the value as it is."""
    values = {}
    for name, convert in _fields_of(cls):
        value = row[columns.get(name, name)]
        values[name] = convert(value) if convert is not None else value
    return cls(**values)


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
    # Moves on whenever data may have changed other than through `transact` units: each
    # commit of a `write` unit of this process (where settings change), and on SQLite any
    # commit of another process. Caches of rarely changing rows (a site's settings) are
    # reused only while it stays the same.
    generation: int

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

    def iterate_values(
        self, sql: str, params: Params = None, batch: int = 1000
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        """:meth:`iterate` for a hot loop: batches of up to ``batch`` rows, each row its
        values in the query's column order (no dict per row). SQLite reads the next batch
        on its connection's thread while the caller works on this one."""
        ...

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """Open a unit of work whose body runs here (SQLite: ``BEGIN IMMEDIATE`` on the
        single writer, each statement sent to it)."""
        ...

    async def transact(self, fn: Callable[[Tx], Awaitable[_R]]) -> _R:
        """Run ``fn(tx)`` as one unit of work and return its result: the hot path.

        ``fn`` is a short unit (a visit, a lease claim): it uses the ``tx`` and plain data
        only, and waits on nothing else. A store may run it on a thread and event loop of
        its own, so it must not touch the caller's locks, futures or tasks. SQLite runs it
        on its writer thread, committed together with the units that arrive meanwhile;
        PostgreSQL runs it here in a transaction of its own.
        """
        ...

    async def execute(self, sql: str, params: Params = None) -> int:
        """Run one write statement as its own unit of work; return rows changed."""
        ...


async def fetch_found(db: Store | Tx, sql: str, params: Params, missing: str) -> Row:
    """The row ``sql`` reads; LookupError(``missing``) when it reads none."""
    row = await db.fetchone(sql, params)
    if row is None:
        raise LookupError(missing)
    return row


def and_given(params: dict[str, Any], *conditions: tuple[str, str, object]) -> str:
    """`` AND <clause>`` for each ``(clause, name, value)`` whose value is not None, with
    ``value`` bound as ``:name`` in ``params``: a list's optional filters in one place."""
    sql = ""
    for clause, name, value in conditions:
        if value is not None:
            sql += f" AND {clause}"
            params[name] = value
    return sql


def now_ms() -> int:
    """Current time as integer epoch milliseconds (UTC), the storage format of time."""
    return time.time_ns() // 1_000_000


# SQLSTATEs of a unit of work that lost a race on PostgreSQL and may simply run again:
# unique violation (a partial unique index caught a concurrent claim of the same number, or
# a concurrent claim for the same session), serialization failure, deadlock.
_RACE_SQLSTATES = frozenset({"23505", "40001", "40P01"})
_ATTEMPTS = 5


def retry_lost_race(unit: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """Run a whole unit of work again when PostgreSQL rolled it back for losing a race.

    With ``SKIP LOCKED`` the ``NOT EXISTS`` test of a lease claim reads a snapshot taken
    when the statement began, so a number whose lease a concurrent claim committed a moment
    earlier can still be picked; the unique index refuses the second lease and the claim
    runs again (it then sees the committed lease). The decorated function must open its
    unit of work itself, so each attempt starts from nothing. SQLite's single writer never
    races, and its errors carry no ``sqlstate``, so they pass through untouched.
    """

    @functools.wraps(unit)
    async def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await unit(*args, **kwargs)
            except Exception as exc:
                if attempt == _ATTEMPTS or getattr(exc, "sqlstate", None) not in _RACE_SQLSTATES:
                    raise
        raise AssertionError("unreachable")

    return run
