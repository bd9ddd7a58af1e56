"""``callpath serve``: run the HTTP server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", help="listen address (else CALLPATH_HOST)")
    p.add_argument("--port", type=int, help="listen port (else CALLPATH_PORT)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (each with its own connections)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.commands import settings_from
    from backend.storage import open_database

    settings = settings_from(args, host=args.host, port=args.port)
    if args.workers < 1:
        raise SystemExit("callpath serve: --workers must be at least 1")
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "proxy_headers": True,
        "access_log": settings.log_level == "debug",
    }
    if args.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0

    async def migrate() -> None:
        await (await open_database(settings.database_url)).close()

    if settings.database_url.startswith("sqlite"):
        logging.getLogger("callpath").warning(
            "%d workers on one SQLite file take turns at its write lock; one worker is"
            " faster there (docs/postgresql.md)",
            args.workers,
        )
    # Migrated once here, not by every worker at once as each starts.
    asyncio.run(migrate())
    # Each worker is a fresh process that builds its app from the environment (uvicorn
    # imports the factory there): what the command line said travels that way.
    os.environ["CALLPATH_DATABASE_URL"] = settings.database_url
    if args.config:
        os.environ["CALLPATH_CONFIG"] = str(args.config)
    uvicorn.run("backend.app:create_app", factory=True, workers=args.workers, **options)
    return 0
