"""The call journal: every call event is on disk before the carrier hears the answer.

A webhook's event is appended to a local file (one JSON line) and the file is
``fdatasync``-ed before the answer leaves; the event is written to the database afterwards
from memory. A process that dies (SIGKILL, out of memory, power) leaves its unwritten events
in its journal, and the next process to start replays them. Appends that arrive together
share one ``fdatasync`` (group commit), done in a thread so the event loop keeps serving.

Lifecycle: once every event of the journal is stored the file is truncated; a file that
grows past :data:`COMPACT_BYTES` while events keep waiting is rewritten with only the
waiting ones (a new file, synced, renamed over the old). Replaying is idempotent: a
call's events are unique per (provider, call id, kind, status) in storage as in a replay.

One file per process: each process takes the first free *slot* — the configured path, then
``name.1.jsonl``, ``name.2.jsonl``… — by an exclusive ``flock`` on a lock file beside it,
held for its whole life. At start a process also adopts the journals of slots nobody holds
(a worker that died, or fewer workers than before): their lines are copied into its own
journal, synced, and the orphan emptied.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("callpath.telephony")

MAX_SLOTS = 64
COMPACT_BYTES = 1 << 20
OFF = "off"


def default_path(database_url: str) -> Path | None:
    """Where the journal lives when ``CALLPATH_CALL_SPOOL_PATH`` is empty: beside a SQLite
    file (``callpath.db.calls.jsonl``), else in the user's state directory, named after
    the database (a journal belongs to one database); None for an in-memory database."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///").split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path).with_name(Path(path).name + ".calls.jsonl")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return Path(state) / "callpath" / f"calls-{digest}.jsonl"


def resolve(setting: str, database_url: str) -> Path | None:
    """The journal's base path from the setting: a path, empty for the default, ``off``."""
    if setting.strip().lower() == OFF:
        return None
    if setting:
        return Path(setting)
    return default_path(database_url)


def slot_path(base: Path, slot: int) -> Path:
    """The journal file of a slot: the base path itself, then ``stem.N.suffix``."""
    if slot == 0:
        return base
    return base.with_name(f"{base.stem}.{slot}{base.suffix}")


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _try_lock(path: Path) -> int | None:
    """An exclusive lock on ``path``'s lock file, or None when another process holds it."""
    fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [line for line in data.splitlines() if line.strip()]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """One process's journal file; appends are durable when their future says True."""

    def __init__(self, base: Path, snapshot: Callable[[], list[bytes]]) -> None:
        self.base = base
        self.path: Path | None = None
        self._snapshot = snapshot  # the lines of every event not yet stored
        self._fd: int | None = None
        self._lock: int | None = None
        self.size = 0
        self._buffer: list[tuple[bytes, asyncio.Future[bool]]] = []
        self._floor = 0  # the size right after the last compaction
        self._compact_waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._last: asyncio.Future[bool] | None = None
        # Its own thread: a sync never waits behind other work in the loop's executor.
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    # -- opening and recovery --------------------------------------------------------
    def claim(self) -> bool:
        """Take the first free slot; False (and a log line) when none can be had."""
        try:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            for slot in range(MAX_SLOTS):
                path = slot_path(self.base, slot)
                lock = _try_lock(path)
                if lock is None:
                    continue
                self._lock, self.path = lock, path
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self.size = os.fstat(self._fd).st_size
                if self.size and not path.read_bytes().endswith(b"\n"):
                    # A line torn by a crash: end it, or the next append would join it
                    # and be lost with it.
                    self._write_sync(b"\n")
                return True
        except OSError as exc:
            log.error("cannot open the call journal %s: %s", self.base, exc)
            self.close()
            return False
        log.error("every call journal slot of %s is in use", self.base)
        return False

    def recover(self) -> list[bytes]:
        """The lines left in this slot and in every slot nobody holds (adopted: copied into
        this journal and synced before the orphan is emptied)."""
        assert self.path is not None and self._fd is not None
        lines = _read_lines(self.path)
        for slot in range(MAX_SLOTS):
            path = slot_path(self.base, slot)
            if path == self.path or not path.exists():
                continue
            try:
                lock = _try_lock(path)
            except OSError:
                continue
            if lock is None:
                continue  # a live process's own journal
            try:
                orphan = _read_lines(path)
                if orphan:
                    log.warning("adopting %d call events from %s", len(orphan), path)
                    self._write_sync(b"".join(line + b"\n" for line in orphan))
                    lines.extend(orphan)
                    with path.open("r+b") as fh:
                        fh.truncate(0)
            finally:
                os.close(lock)
        return lines

    def close(self) -> None:
        """Close the file and release the slot."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        for fd in (self._fd, self._lock):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock = None

    # -- appending -------------------------------------------------------------------
    def append(self, line: bytes) -> asyncio.Future[bool]:
        """Queue one line; the future turns True once it is on disk (False if it failed)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._fd is None:
            future.set_result(False)
            return future
        self._buffer.append((line + b"\n", future))
        self._last = future
        self._start_writer()
        return future

    async def synced(self, within_s: float) -> bool:
        """Wait until every line appended so far is on disk (at most ``within_s``)."""
        last = self._last
        if last is None:
            return True
        try:
            return await asyncio.wait_for(asyncio.shield(last), within_s)
        except TimeoutError:
            return False

    async def compact(self) -> None:
        """Drop the lines of stored events from the file (once the writer gets to it)."""
        idle = self._writer is None or self._writer.done()
        if self._fd is None or (self.size == 0 and not self._buffer and idle):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._compact_waiters.append(waiter)
        self._start_writer()
        await waiter

    async def close_when_written(self) -> None:
        """Let the writer finish what it has, then close (at shutdown)."""
        if self._writer is not None:
            await self._writer
        self.close()

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="callpath-journal")

    async def _write_forever(self) -> None:
        while self._buffer or self._compact_waiters:
            if self._buffer:
                batch, self._buffer = self._buffer, []
                ok = await self._in_thread(self._write_sync, b"".join(b for b, _ in batch))
                for _, future in batch:
                    if not future.done():
                        future.set_result(ok)
            if self._compact_waiters or self.size > max(COMPACT_BYTES, 2 * self._floor):
                waiters, self._compact_waiters = self._compact_waiters, []
                # Lines still buffered belong to events in the snapshot: the rewrite holds
                # them, so they are durable once it is.
                batch, self._buffer = self._buffer, []
                lines = self._snapshot()
                ok = await self._in_thread(self._rewrite_sync, lines)
                for _, future in batch:
                    if not future.done():
                        future.set_result(ok)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def _in_thread(self, fn: Callable[..., None], arg: object) -> bool:
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="callpath-journal"
            )
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, fn, arg)
        except OSError as exc:
            log.error("call journal %s: %s", self.path, exc)
            return False
        return True

    def _write_sync(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)  # in the file now: a compaction must not skip it
        os.fdatasync(self._fd)

    def _rewrite_sync(self, lines: list[bytes]) -> None:
        assert self._fd is not None and self.path is not None
        if not lines:
            # Everything is stored: an empty file (a lost truncation only replays stored
            # events again, which changes nothing).
            os.ftruncate(self._fd, 0)
            self.size = self._floor = 0
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = b"".join(line + b"\n" for line in lines)
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)
        _fsync_dir(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(self._fd)
        self._fd = fd
        self.size = self._floor = len(data)
