"""Every route of the app; each module contributes a ``routes`` list."""

from __future__ import annotations

from starlette.routing import BaseRoute

from backend.routes import api_pool, pages, snippet, visits


def all_routes() -> list[BaseRoute]:
    """The app's routes, in matching order."""
    return [
        *visits.routes,
        *snippet.routes,
        *api_pool.routes,
        *pages.routes,
    ]
