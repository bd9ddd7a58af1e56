"""The REST API under ``/api``: bearer tokens, calls, sessions, reports, exports, OpenAPI.

Every module here contributes a ``routes`` list and declares its operations in the OpenAPI
document (:mod:`backend.api.openapi`); routes of other areas are declared in
:mod:`backend.api.declared`. ``/api/openapi.json`` serves the document.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend.api import (
    batches,
    declared,
    exports,
    fixed_codes,
    openapi,
    reports,
    resources,
    site_settings,
    tokens,
)


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 document of the API (no token needed)."""
    served = openapi.served_operations(request.app.routes)
    return JSONResponse(openapi.document(served=served))


openapi.declare(
    "GET",
    "/api/openapi.json",
    summary="This document",
    tags=["meta"],
    auth=False,
    responses={200: openapi.json_response("The OpenAPI 3.1 document", {"type": "object"})},
)
_ = declared  # imported for its declarations

routes: list[BaseRoute] = [
    Route("/api/openapi.json", openapi_json, methods=["GET"]),
    *tokens.routes,
    *resources.routes,
    *reports.routes,
    *exports.routes,
    *batches.routes,
    *site_settings.routes,
    *fixed_codes.routes,
]
