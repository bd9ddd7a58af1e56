"""``callpath migrate``: apply pending schema migrations."""

from __future__ import annotations

import argparse
import asyncio
import logging.config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from backend.commands import settings_from
    from backend.observability.logs import logging_config
    from backend.storage import open_database
    from backend.storage.migrations import apply_migrations

    settings = settings_from(args)
    try:
        log_config = logging_config(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise SystemExit(f"callpath migrate: {exc}") from None
    # Each migration's start, a long one's progress and durations, on stderr as `serve`
    # writes its log (docs/operations.md, Upgrades).
    logging.config.dictConfig(log_config)

    async def work() -> None:
        db = await open_database(settings.database_url, migrate=False)
        try:
            ran = await apply_migrations(db)
        finally:
            await db.close()
        if ran:
            for m in ran:
                print(f"applied {m.version:04d} {m.name}")
        else:
            print("nothing to apply: the schema is up to date")

    asyncio.run(work())
    return 0
