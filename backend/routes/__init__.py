"""Every route of the app; each module contributes a ``routes`` list."""

from __future__ import annotations

from starlette.routing import BaseRoute

from backend import api
from backend.routes import (
    api_pool,
    dashboard,
    demo_calls,
    pages,
    snippet,
    twilio,
    visits,
    webhooks,
)
from backend.settings import Settings


def all_routes(settings: Settings) -> list[BaseRoute]:
    """The app's routes, in matching order."""
    demo = demo_calls.routes if settings.demo_calls else []
    return [
        *demo,
        *visits.routes,
        *snippet.routes,
        *pages.routes,
        *twilio.routes,
        *webhooks.routes,
        *api_pool.routes,
        *api.routes,
        *dashboard.routes,
    ]
