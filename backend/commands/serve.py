"""``callpath serve``: run the HTTP server."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", help="listen address (else CALLPATH_HOST)")
    p.add_argument("--port", type=int, help="listen port (else CALLPATH_PORT)")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.commands import settings_from

    settings = settings_from(args, host=args.host, port=args.port)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
        access_log=settings.log_level == "debug",
    )
    return 0
