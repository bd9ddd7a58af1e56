"""Every route of the app; each module contributes a ``routes`` list."""

from __future__ import annotations

from starlette.routing import BaseRoute

from backend import api
from backend.reservations import page as rebook_page
from backend.routes import (
    api_pool,
    dashboard,
    demo_calls,
    feeds,
    health,
    metrics,
    pages,
    recordings,
    snippet,
    twilio,
    visits,
    webhooks,
)
from backend.settings import ROLES, Settings


def all_routes(settings: Settings) -> list[BaseRoute]:
    """The app's routes for its ``role``, in matching order."""
    if settings.role not in ROLES:
        raise ValueError(f"setting role: {settings.role!r} is not one of {', '.join(ROLES)}")
    settings.forward_country_list()  # a country list that names no country stops the start
    if settings.role == "telephony":
        # The carriers' webhooks and the load balancer's health check; nothing a visitor,
        # a user or the API reaches (those go to an `all` process).
        return [*health.routes, *metrics.routes, *twilio.routes, *webhooks.routes]
    demo = demo_calls.routes if settings.demo_calls else []
    return [
        *demo,
        *visits.routes,
        *snippet.routes,
        *health.routes,
        *pages.routes,
        *rebook_page.routes,
        *metrics.routes,
        *twilio.routes,
        *webhooks.routes,
        *recordings.routes,
        *api_pool.routes,
        *api.routes,
        *feeds.routes,
        *dashboard.routes,
    ]
