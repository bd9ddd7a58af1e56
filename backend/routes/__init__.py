"""Every route of the app; each module contributes a ``routes`` list."""

from __future__ import annotations

from starlette.routing import BaseRoute

from backend import api
from backend.routes import dashboard, pages, snippet, twilio, visits, webhooks


def all_routes() -> list[BaseRoute]:
    """The app's routes, in matching order."""
    return [
        *visits.routes,
        *snippet.routes,
        *pages.routes,
        *twilio.routes,
        *webhooks.routes,
        *api.routes,
        *dashboard.routes,
    ]
