"""``callpath backup PATH``: a consistent, checked copy of the live SQLite database."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from backend.commands._command import Subparsers, add_command


def register(sub: Subparsers) -> None:
    p = add_command(
        sub, "backup", run, help="copy the SQLite database (while the server runs) to PATH, checked"
    )
    p.add_argument("path", help="file to write (a single SQLite file)")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")


def pg_dump_command(database_url: str, path: str) -> str:
    """The ``pg_dump`` command that backs up the PostgreSQL database at ``database_url``
    (callpath's own URL options dropped, the password left to ``PGPASSWORD``/``~/.pgpass``)."""
    from backend.storage.postgres import pool_options

    dsn, _ = pool_options(database_url)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = userinfo.split(":", 1)[0] + "@" + host
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return shlex.join(["pg_dump", "--format=custom", f"--file={path}", url])


def run(args: argparse.Namespace) -> int:
    """Copy the configured SQLite database to PATH as of one moment, with SQLite's online
    backup API: the server keeps running and writing. The copy is checked (integrity,
    foreign keys) before it replaces PATH. On PostgreSQL, use pg_dump (the command prints
    how)."""
    from backend.commands import settings_from
    from backend.storage import sqlite_path
    from backend.storage.backup import backup

    settings = settings_from(args)
    scheme = urlsplit(settings.database_url).scheme
    if scheme in {"postgres", "postgresql"}:
        print(
            "callpath: the database is PostgreSQL; back it up with PostgreSQL's own tools"
            " (docs/operations.md#postgresql), e.g.\n  "
            + pg_dump_command(settings.database_url, args.path),
            file=sys.stderr,
        )
        return 2
    check = backup(sqlite_path(settings.database_url), Path(args.path), force=args.force)
    rows = sum(check.rows.values())
    print(
        f"backed up to {check.path}: integrity ok, {len(check.rows)} tables, {rows} rows,"
        f" schema version {max(check.versions)}"
    )
    return 0
