"""The app factory: routes, middleware and the lifespan that opens storage."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from attribution.coalesce import settle_counters
from attribution.outbound import OutboundPolicy
from backend import setup_codes
from backend.api.jobs import api_jobs
from backend.assets import TEMPLATES_DIR, examples_dir
from backend.errors import EXCEPTION_HANDLERS
from backend.http import WEBHOOK_PREFIXES
from backend.middleware import CompressionMiddleware, PublicEdgeMiddleware
from backend.observability.context import RequestContext
from backend.observability.logs import LOG_FORMATS
from backend.observability.metrics import Metrics
from backend.proxies import ForwardedClient, parse_trusted_proxies
from backend.recordings.worker import Recordings
from backend.reservations.service import build as build_reservations
from backend.routes import all_routes
from backend.routes.metrics import parse_networks
from backend.services import Services
from backend.settings import DEFAULT_SECRET_KEY, Settings
from backend.storage import open_database
from backend.telephony import flowsms
from backend.telephony.service import telephony_lifespan
from pool.store import now_ms

log = logging.getLogger("callpath")
_startup_frozen = False


def freeze_startup_objects() -> None:
    """Hide what start-up built from the garbage collector, once per process.

    Modules, routes, compiled patterns, phone metadata: tens of thousands of objects that
    live as long as the process. Every full collection walked all of them, a pause of up to
    50 ms on a busy server (most of its p99), and about a tenth of its CPU under load (see
    docs/benchmarks.md). ``gc.freeze()`` moves them to a generation that is never
    collected; what is garbage already is collected first. Later apps in the same process
    (the test suite builds many) do not freeze again, so their garbage stays collectable.
    """
    global _startup_frozen
    if _startup_frozen:
        return
    _startup_frozen = True
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the callpath ASGI app; storage opens (and migrates) when the app starts."""
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.secret_key == DEFAULT_SECRET_KEY:
            # Fine for `make run`; anywhere else tokens and cookies would be forgeable.
            log.warning("CALLPATH_SECRET_KEY is the default: set a long random value in production")
        app.state.db = await open_database(settings.database_url, settings=settings)
        # Units of work report their time to the metrics (backend/observability).
        app.state.db.on_unit = metrics.storage_unit
        try:
            if settings.role == "all":
                # A fresh install gets its one-time set-up code (unless `serve` issued and
                # printed one before starting its workers).
                code = await setup_codes.ensure(app.state.db, now_ms())
                if code:
                    log.warning(setup_codes.announce(code, settings.public_url))
            # Storage, carrier and engine of recordings (backend/recordings): the jobs use it,
            # the player's links read through it.
            app.state.recordings = Recordings.from_settings(settings)
            # Sweeps, purges and pushes run in the `all` processes; a telephony process
            # only answers and records calls.
            jobs = api_jobs(app) if settings.role == "all" else contextlib.nullcontext()
            try:
                async with telephony_lifespan(app), jobs:
                    freeze_startup_objects()
                    yield
            finally:
                await app.state.recordings.close()
            # Drop counts still being written by a background task reach the database.
            await settle_counters(app.state.db)
        finally:
            await app.state.db.close()

    if settings.log_format not in LOG_FORMATS:
        raise ValueError(f"setting log_format: {settings.log_format!r} is not one of {LOG_FORMATS}")
    store = "postgresql" if settings.database_url.startswith("postgres") else "sqlite"
    metrics = Metrics(role=settings.role, store=store)
    routes = all_routes(settings)
    # The example pages are for `make run` (demo calls on) and the snippet's tests (a
    # folder named); a production install's root is the dashboard, with no demo pages.
    if settings.role == "all" and (settings.demo_calls or settings.examples_dir):
        routes.append(
            Mount(
                "/examples",
                StaticFiles(
                    directory=examples_dir(settings.examples_dir), html=True, check_dir=False
                ),
                name="examples",
            )
        )
    app = Starlette(
        routes=routes,
        middleware=[
            # Outermost: every answer, refusals included, carries its request id, and every
            # log line made while serving it.
            Middleware(RequestContext, timer=metrics.webhook, timed_prefixes=WEBHOOK_PREFIXES),
            # Then: everything after it (limits, throttles, cookies) sees the visitor.
            Middleware(ForwardedClient, trusted=parse_trusted_proxies(settings.trusted_proxies)),
            Middleware(PublicEdgeMiddleware, settings=settings),
            Middleware(CompressionMiddleware, minimum_size=500),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # What handlers share (cursor signer, token-use record, sign-in throttle), made once.
    app.state.services = Services.build(settings)
    app.state.metrics = metrics
    metrics.watch(app.state)
    # Who may read /metrics without the token; a bad entry stops start-up here.
    app.state.metrics_networks = parse_networks(settings.metrics_allowed_networks)
    # Where user-supplied URLs (webhooks, GA4) may go; a bad entry stops start-up here.
    app.state.outbound = OutboundPolicy.parse(settings.outbound_allow_hosts)
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    # Durable jobs by kind (backend/durable.py): each feature registers its handlers here.
    app.state.job_handlers = {}
    # Reserved calls (backend/reservations): the voice answer, the API, their jobs.
    app.state.reservations = build_reservations(app)
    # Texts of call flows' sms steps, sent once the call has ended (issue #18).
    app.state.job_handlers[flowsms.KIND] = flowsms.handler(
        lambda: app.state.db, lambda: app.state.telephony.sms
    )
    return app
