"""``callpath restore BACKUP``: check a backup and make it the SQLite database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from backend.commands._command import Subparsers, add_command


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "restore",
        run,
        help="check a backup and make it the SQLite database (the old one kept as .bak)",
    )
    p.add_argument("backup", help="a file written by `callpath backup`")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the database even though a running process has it open",
    )


def run(args: argparse.Namespace) -> int:
    """Check BACKUP (integrity, foreign keys, schema version), migrate it if an older
    callpath wrote it, and put it in place of the configured SQLite database; the replaced
    file is kept as NAME.bak. Stop the server first."""
    from backend.commands import settings_from
    from backend.storage import sqlite_path
    from backend.storage.backup import restore

    settings = settings_from(args)
    if urlsplit(settings.database_url).scheme in {"postgres", "postgresql"}:
        print(
            "callpath: the database is PostgreSQL; restore it with pg_restore"
            " (docs/operations.md#postgresql)",
            file=sys.stderr,
        )
        return 2
    target = sqlite_path(settings.database_url)
    try:
        done = restore(Path(args.backup), target, force=args.force)
    except RuntimeError as exc:  # the target is in use
        print(f"callpath: {exc}", file=sys.stderr)
        return 2
    if done.migrated:
        print("migrated the backup: " + ", ".join(f"{v:04d}" for v in done.migrated))
    if done.previous is not None:
        print(f"kept the previous database as {done.previous}")
    rows = sum(done.check.rows.values())
    print(f"restored {args.backup} to {target}: integrity ok, {rows} rows")
    return 0
