"""CLI subcommands. Each module offers ``register(subparsers)``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from backend.commands import (
    backup,
    billing,
    calls,
    conversions,
    costs,
    demo,
    export,
    flows,
    migrate,
    migrate_store,
    numbers,
    pools,
    reports,
    restore,
    serve,
    simulate,
    users,
)
from backend.settings import Settings
from backend.storage import SQLiteDatabase, open_database

COMMANDS = [
    serve,
    migrate,
    demo,
    export,
    numbers,
    pools,
    calls,
    costs,
    conversions,
    billing,
    reports,
    flows,
    simulate,
    users,
    backup,
    restore,
    migrate_store,
]


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings for a command: file, environment, then the command line."""
    return Settings.load(config_file=args.config, database_url=args.database, **overrides)


def run_with_db(
    args: argparse.Namespace, work: Callable[[SQLiteDatabase, Settings], Awaitable[Any]]
) -> Any:
    """Open the configured database (migrated), run ``work`` with it, close it."""
    settings = settings_from(args)

    async def runner() -> Any:
        db = await open_database(settings.database_url, settings=settings)
        try:
            return await work(db, settings)
        finally:
            await db.close()

    return asyncio.run(runner())
