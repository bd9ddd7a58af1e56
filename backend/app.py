"""The app factory: routes, middleware and the lifespan that opens storage."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from backend.api.jobs import api_jobs
from backend.assets import TEMPLATES_DIR, examples_dir
from backend.errors import EXCEPTION_HANDLERS
from backend.middleware import PublicEdgeMiddleware
from backend.routes import all_routes
from backend.settings import DEFAULT_SECRET_KEY, Settings
from backend.storage import open_database
from backend.telephony.service import telephony_lifespan

log = logging.getLogger("callpath")


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the callpath ASGI app; storage opens (and migrates) when the app starts."""
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.secret_key == DEFAULT_SECRET_KEY:
            # Fine for `make run`; anywhere else tokens and cookies would be forgeable.
            log.warning("CALLPATH_SECRET_KEY is the default: set a long random value in production")
        app.state.db = await open_database(settings.database_url)
        try:
            async with telephony_lifespan(app), api_jobs(app):
                yield
        finally:
            await app.state.db.close()

    routes = [
        *all_routes(settings),
        Mount(
            "/examples",
            StaticFiles(directory=examples_dir(settings.examples_dir), html=True, check_dir=False),
            name="examples",
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                PublicEdgeMiddleware,
                max_body_bytes=settings.max_body_bytes,
                max_webhook_body_bytes=settings.max_webhook_body_bytes,
            ),
            Middleware(GZipMiddleware, minimum_size=500),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    return app
