"""PostgreSQL store on asyncpg: a connection pool shared by reads and units of work.

The SQL the domain writes for SQLite runs here unchanged: named ``:name`` parameters are
translated once per statement text to PostgreSQL's ``$n`` (string literals, quoted names,
comments and ``::`` casts are left alone), rows come back as dicts, and ``NUMERIC`` results
(``SUM`` of a ``BIGINT``, ``AVG``) come back as ``int`` or ``float`` like SQLite's.

Reads run outside any explicit transaction on connections whose default is read only, so a
stray write in a read fails here as it does on SQLite's ``query_only`` readers. A unit of work
is ``BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE`` on one pooled connection; lease claims
rely on row locks (``FOR UPDATE SKIP LOCKED``) and on the partial unique indexes, not on
serializable snapshots. Several app instances may share one database.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from pool.store import Params, Row, Tx

_T = TypeVar("_T")

dialect = "postgresql"

# Defaults of the timeouts (settings `db_statement_timeout_ms` / `db_acquire_timeout_ms`).
STATEMENT_TIMEOUT_MS = 10_000
ACQUIRE_TIMEOUT_MS = 10_000
COMMAND_TIMEOUT_MS = 12_000
_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
# One round trip: a `write()` unit may run as long as it needs (see PostgresDatabase).
_BEGIN_BULK = _BEGIN + "; SET LOCAL statement_timeout = 0"

# Options of ours in the URL's query string; every other one goes to asyncpg (and from
# there to the server as a setting), so ours must be taken out first.
_OWN_OPTIONS = {"pool_min": 1, "pool_max": 10}

_NAME_START = re.compile(r"[A-Za-z_]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class ParamError(KeyError):
    """A statement names a parameter the mapping does not hold."""


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` placeholders to ``$1``… and the names in ``$n`` order.

    A name used twice gets one number. Text inside '…' literals, "…" identifiers,
    $tag$…$tag$ strings and comments is copied untouched, and so is a ``::`` cast.
    """
    out: list[str] = []
    names: list[str] = []
    index: dict[str, int] = {}
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:  # doubled quote inside the literal
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        elif c == "$" and (tag := _DOLLAR_TAG.match(sql, i)):
            end = sql.find(tag.group(0), tag.end())
            end = n if end < 0 else end + len(tag.group(0))
            out.append(sql[i:end])
            i = end
        elif c == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and _NAME_START.match(sql, i + 1):
            match = _NAME.match(sql, i + 1)
            assert match is not None
            name = match.group(0)
            if name not in index:
                names.append(name)
                index[name] = len(names)
            out.append(f"${index[name]}")
            i = match.end()
        else:
            out.append(c)
            i += 1
    return "".join(out), tuple(names)


def _args(sql: str, params: Params) -> tuple[str, list[Any]]:
    query, names = translate(sql)
    values = params or {}
    try:
        return query, [values[name] for name in names]
    except KeyError as exc:
        raise ParamError(f"no value for parameter :{exc.args[0]} in {sql[:200]!r}") from None


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record.items())


def _count(status: str) -> int:
    """Rows changed, from a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _decode_numeric(text: str) -> int | float:
    # SQLite answers SUM over integers with an integer and AVG with a float; so do we.
    if text.lstrip("-").isdigit():
        return int(text)
    return float(text)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "numeric", schema="pg_catalog", encoder=str, decoder=_decode_numeric, format="text"
    )


async def _reset(conn: asyncpg.Connection) -> None:
    """Ready a connection going back to the pool.

    Every unit of work ends its own transaction and nothing here sets session state, so
    asyncpg's default reset (one more round trip per unit: advisory unlocks, CLOSE ALL,
    UNLISTEN, RESET ALL) is only needed for a connection left inside a transaction.
    """
    if conn.is_in_transaction():
        await conn.reset()


class PostgresTx:
    """A unit of work on one pooled connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = None) -> int:
        query, args = _args(sql, params)
        return _count(await self._conn.execute(query, *args))

    async def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        query, names = translate(sql)
        await self._conn.executemany(query, [[row[name] for name in names] for row in rows])

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        query, args = _args(sql, params)
        return _row(await self._conn.fetchrow(query, *args))

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        query, args = _args(sql, params)
        return [dict(r.items()) for r in await self._conn.fetch(query, *args)]

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        query, args = _args(sql, params)
        return await self._conn.fetchval(query, *args)


def pool_options(url: str) -> tuple[str, dict[str, int]]:
    """The URL without our own query options, and those options (pool sizes)."""
    parts = urlsplit(url)
    options = dict(_OWN_OPTIONS)
    rest = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OWN_OPTIONS:
            options[key] = int(value)
        else:
            rest.append((key, value))
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), "")), options


class PostgresDatabase:
    """The scale-out store: every app instance opens its own pool on one database."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        min_size: int | None = None,
        max_size: int | None = None,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
        acquire_timeout_ms: int = ACQUIRE_TIMEOUT_MS,
        command_timeout_ms: int = COMMAND_TIMEOUT_MS,
    ):
        self.dsn, options = pool_options(url)
        # A locked table or a stalled server must not hold requests forever: reads and
        # `transact` units end after `statement_timeout_ms` (the server cancels them), and
        # waiting for a pooled connection ends after `acquire_timeout_ms`. `write()` units
        # (migrations, imports, purges: long by nature) are exempt from the first.
        self.statement_timeout_ms = statement_timeout_ms
        self.acquire_timeout = acquire_timeout_ms / 1000 if acquire_timeout_ms > 0 else None
        # And on this side: a read whose answer does not come (a stalled network, a frozen
        # server: nothing the server's own timeout can end) gives up after this long.
        self.command_timeout = command_timeout_ms / 1000 if command_timeout_ms > 0 else None
        # asyncpg lets an explicit server setting win over the URL's; the URL's name (one
        # per instance, to tell them apart in pg_stat_activity) must win over ours.
        self.application_name = (
            dict(parse_qsl(urlsplit(self.dsn).query)).get("application_name") or "callpath"
        )
        self.min_size = options["pool_min"] if min_size is None else min_size
        self.max_size = max(self.min_size, options["pool_max"] if max_size is None else max_size)
        self._pool: asyncpg.Pool | None = None
        self.generation = 0  # see pool.store.Store.generation
        # Told the time of each unit of work, waits included (the app's metrics).
        self.on_unit: Callable[[str, float], None] | None = None

    async def open(self) -> None:
        """Connect the pool (raises when the server cannot be reached)."""
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            init=_init_connection,
            reset=_reset,
            # Reads are read only unless a unit of work says otherwise (see write()).
            server_settings={
                "default_transaction_read_only": "on",
                "application_name": self.application_name,
                "statement_timeout": str(max(0, self.statement_timeout_ms)),
            },
        )

    def _acquire(self) -> Any:
        """A pooled connection, waited for at most ``acquire_timeout`` seconds."""
        return self.pool.acquire(timeout=self.acquire_timeout)

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        """The asyncpg pool (for tools that need a raw connection)."""
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        query, args = _args(sql, params)
        async with self._acquire() as conn:
            return _row(await conn.fetchrow(query, *args, timeout=self.command_timeout))

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        query, args = _args(sql, params)
        async with self._acquire() as conn:
            rows = await conn.fetch(query, *args, timeout=self.command_timeout)
            return [dict(r.items()) for r in rows]

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        query, args = _args(sql, params)
        async with self._acquire() as conn:
            return await conn.fetchval(query, *args, timeout=self.command_timeout)

    async def iterate(
        self, sql: str, params: Params = None, batch: int = 500
    ) -> AsyncIterator[Row]:
        # A server-side cursor fetches `batch` rows at a time; it lives in a transaction.
        query, args = _args(sql, params)
        async with self._acquire() as conn, conn.transaction(readonly=True):
            # An export may sort everything before its first row: no statement timeout.
            await conn.execute("SET LOCAL statement_timeout = 0")
            async for record in conn.cursor(query, *args, prefetch=max(1, batch)):
                yield dict(record.items())

    async def iterate_values(
        self, sql: str, params: Params = None, batch: int = 1000
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        query, args = _args(sql, params)
        async with self._acquire() as conn, conn.transaction(readonly=True):
            await conn.execute("SET LOCAL statement_timeout = 0")
            cursor = await conn.cursor(query, *args)
            while rows := await cursor.fetch(max(1, batch)):
                yield rows  # asyncpg records: values by position

    def write(self) -> contextlib.AbstractAsyncContextManager[PostgresTx]:
        """A unit of work in a transaction of its own."""
        return self._unit(changes_settings=True)

    @asynccontextmanager
    async def _unit(self, *, changes_settings: bool) -> AsyncIterator[PostgresTx]:
        started = time.perf_counter()
        try:
            async with self._acquire() as conn:
                await conn.execute(_BEGIN_BULK if changes_settings else _BEGIN)
                try:
                    yield PostgresTx(conn)
                except BaseException:
                    # A failed rollback (the connection broke) must not hide the first
                    # error; the pool resets or discards the connection when it comes back.
                    with contextlib.suppress(Exception):
                        if not conn.is_closed():
                            await conn.execute("ROLLBACK")
                    raise
                else:
                    await conn.execute("COMMIT")
                    if changes_settings:
                        self.generation += 1
        finally:
            if self.on_unit is not None:
                kind = "write" if changes_settings else "transact"
                self.on_unit(kind, time.perf_counter() - started)

    async def transact(self, fn: Callable[[Tx], Awaitable[_T]]) -> _T:
        """Run ``fn(tx)`` in a transaction of its own, on this loop."""
        async with self._unit(changes_settings=False) as tx:
            return await fn(tx)

    async def execute(self, sql: str, params: Params = None) -> int:
        async with self.write() as tx:
            return await tx.execute(sql, params)
