"""SQLite store: WAL, one writer, readers on their own connections.

Every write goes through a single writer connection guarded by an asyncio lock, inside
``BEGIN IMMEDIATE``; two writers in this process therefore never race for the file lock.
Other processes writing the same file (the CLI beside a running server) are waited for
without blocking the event loop: ``BEGIN IMMEDIATE`` is tried without SQLite's busy
handler and retried after short sleeps until ``busy_timeout_ms`` has passed.

A unit of work runs its statements in one of two ways:

- :meth:`SQLiteDatabase.transact` units (``fn(tx)``: a handful of indexed statements,
  such as a visit or a lease claim) run on the event loop's own thread. Once
  ``BEGIN IMMEDIATE`` holds the file's write lock, such a statement takes microseconds, far
  less than a hop to a worker thread and back; a visit's whole unit then costs no thread
  hop at all. They are committed in groups: one COMMIT for the units that run while the
  loop is busy, each unit in a SAVEPOINT of its own (see :meth:`SQLiteDatabase.transact`);
- :meth:`SQLiteDatabase.write` units (imports, purges, migrations: anything that may scan
  or write many rows) run each statement on the writer's own thread, so the event loop
  keeps answering.

(Running the short units on the writer's thread instead, so that SQLite's share of a
request would overlap the event loop on the other core, was measured and lost: the two
threads hand the GIL to each other at every statement, and that costs more than the
statements; see docs/benchmarks.md.)

The writer does not checkpoint the WAL when it commits (that would write and fsync pages
on the event loop's thread); a background thread checkpoints it instead, every
``CHECKPOINT_EVERY`` commits. Reads go to read-only reader connections on aiosqlite
threads, where a long report cannot hold up the event loop.

A ``PASSIVE`` checkpoint alone does not bound the WAL under steady writes: SQLite starts
writing the log from its beginning again only when a write begins after a checkpoint has
copied *every* frame back, and with commits arriving all the time there are always new
frames by then, so the file grows for as long as the load lasts (1.7 GB in 10 minutes of
50 visits a second). So once the log passes ``wal_max_bytes`` the store truncates it: a
``TRUNCATE`` checkpoint runs on the writer's own connection and thread while it holds the
write lock (units queue behind it as behind any other, in turn, so the checkpoint is never
starved by the stream of commits), copies the frames the last ``PASSIVE`` pass had not
copied yet (at most ``CHECKPOINT_EVERY`` commits' worth) and cuts the file to zero
bytes. It waits at most ``TRUNCATE_WAIT_MS`` for readers still on the log; a long export
can outlast that, and the truncate is then tried again a little later.
``journal_size_limit`` also cuts the file back whenever SQLite restarts the log itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from pool.store import Params, Row, Tx

dialect = "sqlite"

# Commits between two background checkpoints of the WAL (SQLite's own default is to
# checkpoint once the WAL reaches 1,000 pages; a commit of a visit writes a few pages).
CHECKPOINT_EVERY = 200
# The WAL's size past which the background checkpoint truncates it (`wal_max_bytes`).
WAL_MAX_BYTES = 64 * 1024 * 1024
# How long a TRUNCATE checkpoint (holding the write lock, so every write waits too) waits
# for readers still on the log. After one that could not finish, the next is tried no
# sooner than TRUNCATE_RETRY_S later: a long export costs writes a short stall a few times
# a second, not one per commit.
TRUNCATE_WAIT_MS = 50
TRUNCATE_RETRY_S = 0.25
# A group of `transact` units commits at the latest after this many units or milliseconds.
# (20 ms let a busy loop hold every visit's answer up to 20 ms: people's median latency
# under a flood was 26x the unloaded one, 17x with 2 ms; throughput barely moved.)
GROUP_MAX_UNITS = 64
GROUP_MAX_MS = 2.0

_T = TypeVar("_T")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


def _truncate_wal(conn: sqlite3.Connection) -> bool:
    """TRUNCATE checkpoint on the writer's connection; whether readers kept it from ending."""
    conn.execute(f"PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}").close()
    try:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute("PRAGMA busy_timeout = 0").close()
    return bool(row and row["busy"])


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


# --- statements on a plain sqlite3 connection (run inline or on the writer thread) --------


def _execute(conn: sqlite3.Connection, sql: str, params: Params) -> int:
    cursor = conn.execute(sql, params or {})
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _executemany(conn: sqlite3.Connection, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
    conn.executemany(sql, rows).close()


def _fetchall(conn: sqlite3.Connection, sql: str, params: Params) -> list[Row]:
    cursor = conn.cursor()
    # Tuples, then dicts with the column names read once per statement (a row factory
    # would build the cursor's description again for every row).
    cursor.row_factory = None
    try:
        cursor.execute(sql, params or {})
        # Fetching every row also finishes RETURNING statements before the next one runs.
        rows = cursor.fetchall()
        if not rows:
            return []
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in rows]
    finally:
        cursor.close()


def _fetchone(conn: sqlite3.Connection, sql: str, params: Params) -> Row | None:
    rows = _fetchall(conn, sql, params)
    return rows[0] if rows else None


def _fetchval(conn: sqlite3.Connection, sql: str, params: Params) -> Any:
    cursor = conn.cursor()
    cursor.row_factory = None
    try:
        cursor.execute(sql, params or {})
        rows = cursor.fetchall()
        return rows[0][0] if rows else None
    finally:
        cursor.close()


class SQLiteTx:
    """A unit of work on the writer connection.

    ``run`` is None for a short unit (statements run right here, on the event loop's
    thread); otherwise it sends each statement to the writer's thread.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        run: Callable[..., Any] | None = None,
    ) -> None:
        self._conn = conn
        self._run = run

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._run is None:
            return fn(self._conn, *args)
        result: _T = await self._run(fn, self._conn, *args)
        return result

    async def execute(self, sql: str, params: Params = None) -> int:
        return await self._call(_execute, sql, params)

    async def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        await self._call(_executemany, sql, rows)

    async def fetchone(self, sql: str, params: Params = None) -> Row | None:
        return await self._call(_fetchone, sql, params)

    async def fetchall(self, sql: str, params: Params = None) -> list[Row]:
        return await self._call(_fetchall, sql, params)

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        return await self._call(_fetchval, sql, params)


class _Group:
    """``transact`` units sharing one transaction and one COMMIT."""

    __slots__ = ("active", "closing", "done", "lost", "opened", "turn", "units")

    def __init__(self, done: asyncio.Future[None], opened: float) -> None:
        self.done = done
        self.opened = opened
        self.turn = asyncio.Lock()
        self.active = 0
        self.units = 0
        self.closing = False
        self.lost = False


class SQLiteDatabase:
    """The default store: one SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 10_000,
        readers: int = 2,
        wal_max_bytes: int = WAL_MAX_BYTES,
    ):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.wal_max_bytes = wal_max_bytes
        self.wal_path = Path(f"{self.path}-wal")
        # What the background checkpoints did, for health pages and tests.
        self.checkpoints = {"passive": 0, "truncate": 0, "failed": 0, "last_ms": 0}
        self._truncate_failed_at = -1e9  # time.monotonic() of the last truncate readers blocked
        self._truncating: asyncio.Task[None] | None = None
        self._reader_count = max(1, readers)
        self._writer: sqlite3.Connection | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._inflight: asyncio.Future[Any] | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.count()
        self._write_lock = asyncio.Lock()
        self._group: _Group | None = None
        self.generation = 0  # see pool.store.Store.generation
        self._data_version: Any = None
        self._commits = 0
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        # Told the time of each unit of work, waits included (the app's metrics).
        self.on_unit: Callable[[str, float], None] | None = None

    def _pragmas(self, *, read_only: bool, busy_timeout_ms: int) -> list[str]:
        pragmas = [
            f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
            "PRAGMA foreign_keys = ON",
            # NORMAL in WAL mode survives a crash of the process (not of the machine).
            "PRAGMA synchronous = NORMAL",
        ]
        if read_only:
            pragmas.append("PRAGMA query_only = ON")
        return pragmas

    async def _connect(self, *, read_only: bool) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = _dict_row
        try:
            for pragma in self._pragmas(read_only=read_only, busy_timeout_ms=self.busy_timeout_ms):
                # Close each cursor: an unfinished statement would hold a lock on the file.
                async with conn.execute(pragma):
                    pass
        except BaseException:
            await conn.close()
            raise
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = _dict_row
            # No busy handler: a busy file is waited for by `_begin`, off the event loop.
            for pragma in self._pragmas(read_only=False, busy_timeout_ms=0):
                conn.execute(pragma).close()
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            # A unit's SAVEPOINT keeps the pages it changes in a sub-journal: in memory.
            conn.execute("PRAGMA temp_store = MEMORY").close()
            # Checkpoints run on a background thread (`_maybe_checkpoint`), not at commit.
            conn.execute("PRAGMA wal_autocheckpoint = 0").fetchall()
            # When SQLite restarts the log by itself it cuts the file back to this size.
            conn.execute(f"PRAGMA journal_size_limit = {int(self.wal_max_bytes)}").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        """Open the writer and the reader connections; create the file when missing."""
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="callpath-sqlite-writer")
        try:
            self._writer = await self._on_writer_thread(self._connect_writer)
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
        for pending in (self._truncating, self._checkpointing):
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            self._checkpointer = None
        if self._writer is not None:
            async with self._write_lock:
                await self._on_writer_thread(self._writer.close)
            self._writer = None
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=True)
            self._writer_thread = None

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

    async def iterate_values(
        self, sql: str, params: Params = None, batch: int = 1000
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        conn = await self._connect(read_only=True)
        conn.row_factory = None  # plain tuples
        ahead: asyncio.Future[Any] | None = None
        try:
            async with conn.execute(sql, params or {}) as cursor:
                # The next batch is read on the connection's thread (SQLite steps without
                # the GIL) while the caller works on this one.
                ahead = asyncio.ensure_future(cursor.fetchmany(batch))
                while rows := await ahead:
                    ahead = asyncio.ensure_future(cursor.fetchmany(batch))
                    yield rows
                ahead = None
        finally:
            if ahead is not None:  # the caller stopped early: let the read end first
                with contextlib.suppress(Exception):
                    await ahead
            await conn.close()

    async def _on_writer_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the writer's thread.

        If the caller is cancelled meanwhile, the statement still runs to its end there;
        ``_settle`` waits for it before the connection is used again (a ROLLBACK must not
        run beside it).
        """
        if self._writer_thread is None:
            raise RuntimeError("database is not open")
        future = asyncio.get_running_loop().run_in_executor(self._writer_thread, fn, *args)
        self._inflight = future
        return await future

    async def _settle(self) -> None:
        """Wait, through cancellations, for a statement still running on the writer thread."""
        future, self._inflight = self._inflight, None
        cancelled = False
        while future is not None and not future.done():
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:
                break
        if cancelled:
            raise asyncio.CancelledError

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, waiting (asleep, not blocking) while another process writes."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        delay = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE").close()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def transact(self, fn: Callable[[Tx], Awaitable[_T]]) -> _T:
        """Run ``fn(tx)`` as one short unit of work, on this thread; return its result
        (see :meth:`_transact`); its time, waits included, goes to ``on_unit``."""
        started = time.perf_counter()
        try:
            return await self._transact(fn)
        finally:
            if self.on_unit is not None:
                self.on_unit("transact", time.perf_counter() - started)

    async def _transact(self, fn: Callable[[Tx], Awaitable[_T]]) -> _T:
        """Run ``fn(tx)`` as one short unit of work, on this thread; return its result.

        Units are committed in groups. The first unit opens one: it takes the write lock,
        begins a transaction and schedules its COMMIT for when the event loop has nothing
        else ready to run (or after ``GROUP_MAX_UNITS`` units or ``GROUP_MAX_MS``). Every
        unit that runs meanwhile (the other requests being served) joins the group inside
        a SAVEPOINT of its own, so a unit that fails undoes only its own statements. Each
        caller goes on only once the COMMIT is done: an answered request is as durable as
        with a COMMIT of its own, and under load one COMMIT (the costliest statement of a
        visit: it writes the WAL) serves many units. With nothing else to do the loop
        commits at once, so a lone unit waits for no one.
        """
        conn = self._writer
        if conn is None:
            raise RuntimeError("database is not open")
        group = self._group
        if group is None or group.closing:
            group = await self._open_group(conn)
        # Units of a group run one after another: were one to wait on something inside
        # (it should not), another's SAVEPOINT must not nest inside its own.
        async with group.turn:
            if group.closing:
                # The group committed while this unit waited for its turn: try again.
                return await self._transact(fn)
            group.active += 1
            try:
                conn.execute("SAVEPOINT unit").close()
                try:
                    result = await fn(SQLiteTx(conn))
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO unit").close()
                        conn.execute("RELEASE unit").close()
                    else:
                        # SQLite rolled the whole group back (an I/O error, a full disk):
                        # no later unit may join it, and none of it will commit.
                        group.lost = group.closing = True
                        self._group = None
                    raise
                conn.execute("RELEASE unit").close()
                group.units += 1
            finally:
                group.active -= 1
        await asyncio.shield(group.done)
        return result

    async def _open_group(self, conn: sqlite3.Connection) -> _Group:
        await self._write_lock.acquire()
        try:
            await self._begin(conn)
        except BaseException:
            self._write_lock.release()
            raise
        # Moves on when another connection (another process) committed since we looked.
        version = _fetchval(conn, "PRAGMA data_version", None)
        if version != self._data_version:
            self._data_version = version
            self.generation += 1
        loop = asyncio.get_running_loop()
        group = self._group = _Group(loop.create_future(), loop.time())
        loop.call_soon(self._commit_group, group)
        return group

    def _commit_group(self, group: _Group) -> None:
        """COMMIT the group once the loop has nothing else ready (see :meth:`transact`)."""
        loop = asyncio.get_running_loop()
        # asyncio keeps the callbacks ready to run in `_ready` (CPython's loop; a loop
        # without it commits at the next turn, as if idle).
        busy = len(getattr(loop, "_ready", ()))
        waited_ms = (loop.time() - group.opened) * 1000
        if group.active or (busy and group.units < GROUP_MAX_UNITS and waited_ms < GROUP_MAX_MS):
            loop.call_soon(self._commit_group, group)
            return
        group.closing = True
        if self._group is group:
            self._group = None
        conn = self._writer
        try:
            assert conn is not None
            if group.lost:
                raise sqlite3.OperationalError("the transaction was rolled back")
            conn.execute("COMMIT").close()
        except BaseException as exc:
            if conn is not None:
                self._rollback(conn)
            group.done.set_exception(exc)
            group.done.exception()  # retrieved: callers that were cancelled never read it
        else:
            group.done.set_result(None)
            self._committed()
        finally:
            self._write_lock.release()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SQLiteTx]:
        """A unit of work whose statements run on the writer's thread."""
        conn = self._writer
        if conn is None:
            raise RuntimeError("database is not open")
        started = time.perf_counter()
        try:
            async with self._write_lock:
                await self._begin(conn)
                try:
                    yield SQLiteTx(conn, self._on_writer_thread)
                except BaseException:
                    try:
                        await self._settle()
                    finally:
                        self._rollback(conn)
                    raise
                else:
                    try:
                        conn.execute("COMMIT").close()
                    except BaseException:
                        self._rollback(conn)
                        raise
            self.generation += 1
            self._committed()
        finally:
            if self.on_unit is not None:
                self.on_unit("write", time.perf_counter() - started)

    def _committed(self) -> None:
        self._commits += 1
        wal = self.wal_bytes()
        if wal > self.wal_max_bytes and (self._truncating is None or self._truncating.done()):
            # After a truncate readers kept from finishing, the next waits a while (a long
            # export costs writes a short stall a few times a second, not one per commit);
            # past twice the bound it waits less, so a held-up reader cannot let it run away.
            since = time.monotonic() - self._truncate_failed_at
            wait = TRUNCATE_RETRY_S if wal <= 2 * self.wal_max_bytes else TRUNCATE_RETRY_S / 5
            if since < wait:
                return
            self._commits = 0
            self._truncating = asyncio.get_running_loop().create_task(self._truncate())
        elif self._commits >= CHECKPOINT_EVERY:
            self._maybe_checkpoint()

    async def _truncate(self) -> None:
        """Bring the log back to zero bytes (see the module's docstring)."""
        conn = self._writer
        if conn is None:
            return
        async with self._write_lock:
            if self._writer is None:
                return
            try:
                busy = await self._on_writer_thread(_truncate_wal, conn)
            except sqlite3.Error:
                busy = True
        self.checkpoints["failed" if busy else "truncate"] += 1
        self.checkpoints["last_ms"] = int(time.time() * 1000)
        if busy:
            self._truncate_failed_at = time.monotonic()

    def wal_bytes(self) -> int:
        """The write-ahead log's size on disk now (0 when there is none)."""
        try:
            return self.wal_path.stat().st_size
        except OSError:
            return 0

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # SQLite may have rolled back already (a full disk, an I/O error): nothing to undo.
        if conn.in_transaction:
            conn.execute("ROLLBACK").close()

    def _maybe_checkpoint(self) -> None:
        """Checkpoint the WAL on a background thread unless one is running already."""
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._commits = 0
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="callpath-checkpoint")
        self._checkpointing = asyncio.get_running_loop().run_in_executor(
            self._checkpointer, self._checkpoint
        )

    def _checkpoint(self) -> None:
        # PASSIVE: copies what it can without waiting for (or blocking) readers and writer.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints["passive"] += 1
            self.checkpoints["last_ms"] = int(time.time() * 1000)
        except sqlite3.Error:
            pass  # the next one retries; a missed checkpoint only lets the WAL grow
        finally:
            conn.close()

    async def execute(self, sql: str, params: Params = None) -> int:
        # Its own unit on the writer's thread: one statement may still be a long one.
        async with self.write() as tx:
            return await tx.execute(sql, params)
