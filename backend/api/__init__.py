"""The REST API under ``/api``: bearer tokens, calls, sessions, reports, exports, OpenAPI.

Every ``/api`` endpoint is written one way (docs/contributing.md, "Writing an API
endpoint"): a handler ``(request, principal)`` declared once with its module's
:class:`~backend.api.endpoints.Endpoints` (``@api.get(path, summary, ...)``: the OpenAPI
operation and the route through ``authorized``); it reads only within ``principal.scope``.
Modules here and ``backend/routes/api_pool.py`` each contribute ``routes = api.routes``.
``/api/openapi.json`` serves the document.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from backend.api import (
    audio,
    batches,
    billing,
    billing_disputes,
    call_work,
    conversion_actions,
    costs,
    exports,
    fixed_codes,
    flow_reports,
    flows,
    openapi,
    recordings,
    reports,
    reservation_setup,
    reservations,
    resources,
    site_settings,
    tokens,
)
from backend.api.endpoints import Endpoints

api = Endpoints(tags=["meta"])


@api.get(
    "/api/openapi.json",
    "This document",
    ok="The OpenAPI 3.1 document",
    returns={"type": "object"},
    auth=False,
)
async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 document of the API (no token needed)."""
    served = openapi.served_operations(request.app.routes)
    return JSONResponse(openapi.document(served=served))


routes: list[BaseRoute] = [
    *api.routes,
    *tokens.routes,
    *resources.routes,
    *reports.routes,
    *exports.routes,
    *batches.routes,
    *site_settings.routes,
    *fixed_codes.routes,
    *call_work.routes,
    *costs.routes,
    *conversion_actions.routes,
    *billing.routes,
    *billing_disputes.routes,
    *flows.routes,
    *flow_reports.routes,
    *audio.routes,
    *reservations.routes,
    *reservation_setup.routes,
    *recordings.routes,
]
