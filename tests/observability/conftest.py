"""Fixtures of the observability tests: the suite's app with Twilio configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from backend import create_app
from backend.settings import Settings
from tests.support.browser import BROWSER_HEADERS
from tests.telephony.conftest import AUTH_TOKEN


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The suite's settings (per store) plus a Twilio auth token."""
    return settings.replace(twilio_auth_token=AUTH_TOKEN)


@pytest.fixture
async def telephony(app: Starlette, demo: dict[str, Any]) -> Any:
    """The telephony service, its routing table reloaded after the demo was seeded."""
    service = app.state.telephony
    await service.table.load()
    return service


@asynccontextmanager
async def client_of(
    app: Starlette, address: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``app`` whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={**BROWSER_HEADERS, **(headers or {})},
    ) as client:
        yield client


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    """An app on ``settings``, started (storage open) for the block."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def restore_logger() -> Iterator[None]:
    """Puts the ``callpath`` logger's level and handlers back after the test."""
    import logging

    logger = logging.getLogger("callpath")
    level, handlers, propagate = logger.level, list(logger.handlers), logger.propagate
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers
    logger.propagate = propagate
