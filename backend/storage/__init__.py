"""Storage: one class per database kind behind the :class:`pool.store.Store` interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from backend.storage.sqlite import SQLiteDatabase

if TYPE_CHECKING:
    from backend.settings import Settings
    from backend.storage.postgres import PostgresDatabase

__all__ = ["SQLiteDatabase", "open_database", "sqlite_path"]


def sqlite_path(url: str) -> Path:
    """The file path in a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return Path(url[len("sqlite:///") :])


async def open_database(
    url: str, *, migrate: bool = True, settings: Settings | None = None
) -> SQLiteDatabase | PostgresDatabase:
    """Open the database named by ``url``, applying pending migrations when asked.

    ``sqlite:///path`` opens the default SQLite store; ``postgresql://user@host/db`` the
    PostgreSQL one (``postgres://`` too); both implement :class:`pool.store.Store`.
    ``settings`` gives the stores' limits (the WAL bound, PostgreSQL's timeouts); without
    them each store's defaults apply.
    """
    scheme = urlsplit(url).scheme
    db: SQLiteDatabase | PostgresDatabase
    if scheme == "sqlite":
        db = (
            SQLiteDatabase(sqlite_path(url))
            if settings is None
            else SQLiteDatabase(sqlite_path(url), wal_max_bytes=settings.sqlite_wal_max_bytes)
        )
    elif scheme in {"postgres", "postgresql"}:
        from backend.storage.postgres import PostgresDatabase

        db = (
            PostgresDatabase(url)
            if settings is None
            else PostgresDatabase(
                url,
                statement_timeout_ms=settings.db_statement_timeout_ms,
                acquire_timeout_ms=settings.db_acquire_timeout_ms,
                command_timeout_ms=settings.db_command_timeout_ms,
            )
        )
    else:
        raise ValueError(
            f"unsupported database URL scheme {scheme!r} (use sqlite:/// or postgresql://)"
        )
    await db.open()
    if migrate:
        from backend.storage.migrations import apply_migrations

        try:
            await apply_migrations(db)
        except BaseException:
            await db.close()
            raise
    return db
