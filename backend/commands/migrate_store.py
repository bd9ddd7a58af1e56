"""``callpath migrate-store URL``: copy the SQLite database into PostgreSQL, verified."""

from __future__ import annotations

import argparse
import asyncio
from urllib.parse import urlsplit

from backend.commands._command import Subparsers, add_command


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "migrate-store",
        run,
        help="copy everything from the SQLite database into PostgreSQL, verified",
    )
    p.add_argument("url", help="the target, postgresql://user@host/db")
    p.add_argument(
        "--force",
        action="store_true",
        help="the target may hold rows: delete every row of callpath's tables there first",
    )


def run(args: argparse.Namespace) -> int:
    """Copy every table of the configured SQLite database into the PostgreSQL database at
    URL (migrated first; it must be empty), in one transaction, then compare each table's
    row count and checksum with the source; a difference rolls the copy back. Stop the
    server first: writes after the copy starts stay behind."""
    from backend.commands import settings_from
    from backend.storage import open_database, sqlite_path
    from backend.storage.postgres import PostgresDatabase
    from backend.storage.transfer import SourceSnapshot, copy_to_postgres

    settings = settings_from(args)
    if urlsplit(settings.database_url).scheme != "sqlite":
        raise ValueError("the configured database must be the SQLite one to copy from")
    if urlsplit(args.url).scheme not in {"postgres", "postgresql"}:
        raise ValueError("the target must be a postgresql:// URL")

    source_path = sqlite_path(settings.database_url)
    if not source_path.is_file():  # opening it would make an empty one to copy
        raise FileNotFoundError(f"{source_path}: no such file")

    async def work() -> int:
        # Both stores brought to this callpath's schema, as `callpath serve` would.
        await (await open_database(settings.database_url)).close()
        target = await open_database(args.url)
        assert isinstance(target, PostgresDatabase)
        source = SourceSnapshot(source_path)
        try:
            copied = await copy_to_postgres(source, target, force=args.force, say=print)
        finally:
            source.close()
            await target.close()
        rows = sum(c.target_rows for c in copied)
        print(
            f"verified: {len(copied)} tables, {rows} rows, every table's row count and"
            " checksum equal to the source"
        )
        return 0

    return asyncio.run(work())
