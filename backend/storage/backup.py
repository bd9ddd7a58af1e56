"""Backups of the SQLite store: a consistent copy of a live file, and checked restores.

A copy is taken with SQLite's online backup API from a connection of its own, in one step:
that step holds one read transaction on the source, so the copy is the database exactly as
of one moment, while the server keeps writing (in WAL mode a reader never blocks a writer,
nor a writer a reader). The copy goes to a temporary file beside the destination, is
checked, made a single self-contained file (no write-ahead log) and only then renamed over
the destination, so a reader of the destination never sees half a backup.

A restore checks the backup (SQLite's own integrity check, foreign keys, schema version),
refuses a backup written by a newer callpath, migrates an older one, refuses to replace a
file that a running process has open, and keeps the file it replaces as ``NAME.bak``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backend.storage.migrations import all_migrations, apply_migrations
from backend.storage.sqlite import SQLiteDatabase

SQLITE_HEADER = b"SQLite format 3\x00"
# How long the backup's read of a busy source (a WAL being recovered) may wait.
BUSY_TIMEOUT_MS = 10_000
# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this byte
# of the `-shm` file for as long as it is open (the "DMS" lock of the WAL-index format,
# https://www.sqlite.org/walformat.html); a process that can lock it exclusively is alone.
SHM_DMS_BYTE = 128


@dataclass
class FileCheck:
    """What a check of one SQLite file found."""

    path: Path
    integrity: list[str] = field(default_factory=list)  # "ok", or SQLite's complaints
    foreign_key_violations: int = 0
    versions: list[int] = field(default_factory=list)  # schema_migrations
    rows: dict[str, int] = field(default_factory=dict)  # per table

    @property
    def unknown_versions(self) -> list[int]:
        """Migrations this callpath does not have: the file is from a newer callpath."""
        known = {m.version for m in all_migrations()}
        return [v for v in self.versions if v not in known]

    @property
    def missing_versions(self) -> list[int]:
        """Migrations this callpath has that the file has not had yet (an older file)."""
        done = set(self.versions)
        return [m.version for m in all_migrations() if m.version not in done]

    def problems(self) -> list[str]:
        """Why this file must not be used, if at all (empty when it is sound)."""
        found = []
        if self.integrity != ["ok"]:
            return ["integrity check failed: " + "; ".join(self.integrity[:5])]
        if self.foreign_key_violations:
            found.append(f"{self.foreign_key_violations} rows break a foreign key")
        if not self.versions:
            found.append("no schema_migrations table: not a callpath database")
        return found


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}").close()
    return conn


def user_tables(conn: sqlite3.Connection) -> list[str]:
    """The database's own tables, by name: not SQLite's ``sqlite_*`` bookkeeping, nor a
    full-text index (an FTS5 virtual table and its ``NAME_*`` shadow tables, made again
    from the rows they index: ``transcript_fts``, migration 0041)."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
        " ESCAPE '\\' ORDER BY name"
    ).fetchall()
    virtual = [str(r[0]) for r in rows if str(r[1] or "").upper().startswith("CREATE VIRTUAL")]
    return [
        str(r[0])
        for r in rows
        if not any(str(r[0]) == v or str(r[0]).startswith(v + "_") for v in virtual)
    ]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_connection(conn: sqlite3.Connection, path: Path) -> FileCheck:
    """Integrity, foreign keys, schema version and row counts of an open database."""
    check = FileCheck(path)
    check.integrity = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    if check.integrity != ["ok"]:
        return check  # counting rows of a damaged file can fail or mislead
    check.foreign_key_violations = len(conn.execute("PRAGMA foreign_key_check").fetchall())
    tables = user_tables(conn)
    for table in tables:
        check.rows[table] = int(conn.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0])
    if "schema_migrations" in tables:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        check.versions = [int(r[0]) for r in rows]
    return check


def _require_sqlite_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open("rb") as fh:
        if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise ValueError(f"{path} is not an SQLite database")


def check_file(path: Path) -> FileCheck:
    """Check the SQLite file at ``path`` without changing it."""
    _require_sqlite_file(path)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        return check_connection(conn, path)
    except sqlite3.DatabaseError as exc:
        return FileCheck(path, integrity=[str(exc)])
    finally:
        conn.close()


def in_use(path: Path) -> bool:
    """Whether some process (a server, a worker, a command) has the database open now."""
    shm = Path(f"{path}-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False  # nobody has opened it in WAL mode since it was last closed cleanly
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, SHM_DMS_BYTE, os.SEEK_SET)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops our lock, if we got it
    return False


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename is durable only once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temporary_beside(dest: Path) -> Iterator[Path]:
    """A fresh temporary path in ``dest``'s folder (same file system: the rename is atomic),
    removed with its journal files unless the caller renamed it away."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    for leftover in _with_sidecars(tmp):
        leftover.unlink(missing_ok=True)
    try:
        yield tmp
    finally:
        for leftover in _with_sidecars(tmp):
            leftover.unlink(missing_ok=True)


def _with_sidecars(path: Path) -> list[Path]:
    """The database file and the journal files SQLite keeps beside it."""
    return [path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))]


def copy_database(source: Path, dest: Path) -> None:
    """Copy ``source`` (live or not) to the new file ``dest`` as of one moment, with the
    online backup API in one step, and leave ``dest`` a self-contained file."""
    src = _connect(source)
    try:
        src.execute("PRAGMA query_only = ON").close()
        out = sqlite3.connect(dest, isolation_level=None)
        try:
            # pages=-1: the whole database in one step, under one read transaction, so the
            # copy is a snapshot. (Step by step, every write to the source would restart it,
            # and under steady traffic it would never end.)
            src.backup(out, pages=-1)
            # The copy inherits the source's WAL mode; a backup is one file to carry away.
            out.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            out.close()
    finally:
        src.close()
    _fsync(dest)


def backup(source: Path, dest: Path, *, force: bool = False) -> FileCheck:
    """Write a checked, consistent copy of the live database ``source`` to ``dest``.

    Refuses to replace an existing ``dest`` unless ``force``; ``dest`` appears at once and
    whole (a rename), only after the copy passed its checks.
    """
    _require_sqlite_file(source)
    if dest.exists() and not force:
        raise FileExistsError(f"{dest} exists (--force replaces it)")
    if dest.resolve() == source.resolve():
        raise ValueError("the backup must not replace the database itself")
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"{dest.parent}: no such folder")
    with _temporary_beside(dest) as tmp:
        copy_database(source, tmp)
        check = check_file(tmp)
        problems = check.problems()
        if problems:
            raise ValueError(f"the copy of {source} is not sound: " + "; ".join(problems))
        os.replace(tmp, dest)
        _fsync(dest.parent)
    check.path = dest
    return check


async def _migrate(path: Path) -> list[int]:
    db = SQLiteDatabase(path)
    await db.open()
    try:
        return [m.version for m in await apply_migrations(db)]
    finally:
        await db.close()


@dataclass
class Restored:
    """What a restore did."""

    check: FileCheck  # of the restored file
    migrated: list[int]  # migrations applied to the backup on its way in
    previous: Path | None  # where the replaced database went


def restore(backup_file: Path, target: Path, *, force: bool = False) -> Restored:
    """Replace the database ``target`` with a checked copy of ``backup_file``.

    The backup must pass SQLite's integrity check and the foreign-key check and must not
    come from a newer callpath; one from an older callpath is migrated. A ``target`` that
    some process has open is refused unless ``force``. The replaced file (and a write-ahead
    log it still had) is kept as ``TARGET.bak``.
    """
    found = check_file(backup_file)
    problems = found.problems()
    if problems:
        raise ValueError(f"{backup_file} cannot be restored: " + "; ".join(problems))
    if found.unknown_versions:
        raise ValueError(
            f"{backup_file} was written by a newer callpath (schema migrations "
            f"{found.unknown_versions} are unknown here): upgrade callpath, then restore"
        )
    if in_use(target) and not force:
        raise RuntimeError(
            f"{target} is open in a running process (callpath serve?): stop it first"
            " (--force replaces it anyway, and that process keeps writing to the old file)"
        )
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_beside(target) as tmp:
        copy_database(backup_file, tmp)
        migrated = asyncio.run(_migrate(tmp)) if found.missing_versions else []
        check = check_file(tmp)
        problems = check.problems() or (
            [f"migrations {check.missing_versions} did not apply"] if check.missing_versions else []
        )
        if problems:
            raise ValueError("the restored copy is not sound: " + "; ".join(problems))
        previous = _keep_previous(target)
        os.replace(tmp, target)
        _fsync(target.parent)
    check.path = target
    return Restored(check, migrated, previous)


def _keep_previous(target: Path) -> Path | None:
    """Move ``target`` and its journal files aside to ``TARGET.bak`` (replacing an older
    ``.bak``); SQLite finds a log by its database's name, so they move together."""
    if not target.exists():
        for stale in _with_sidecars(target)[1:]:
            stale.unlink(missing_ok=True)  # a log without its database belongs to nobody
        return None
    bak = target.with_name(target.name + ".bak")
    for old in _with_sidecars(bak):
        old.unlink(missing_ok=True)
    for current, kept in zip(_with_sidecars(target), _with_sidecars(bak), strict=True):
        if current.exists():
            os.replace(current, kept)
    return bak
