"""Storage: one class per database kind behind the :class:`pool.store.Store` interface."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from backend.storage.sqlite import SQLiteDatabase

__all__ = ["SQLiteDatabase", "open_database", "sqlite_path"]


def sqlite_path(url: str) -> Path:
    """The file path in a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return Path(url[len("sqlite:///") :])


async def open_database(url: str, *, migrate: bool = True) -> SQLiteDatabase:
    """Open the database named by ``url``, applying pending migrations when asked."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        db = SQLiteDatabase(sqlite_path(url))
    elif scheme in {"postgres", "postgresql"}:
        raise ValueError("PostgreSQL storage is not available in this build yet")
    else:
        raise ValueError(f"unsupported database URL scheme {scheme!r} (use sqlite:/// )")
    await db.open()
    if migrate:
        from backend.storage.migrations import apply_migrations

        await apply_migrations(db)
    return db
