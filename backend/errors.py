"""The one error renderer, and the one list of machine paths.

Machine paths (:data:`MACHINE_PREFIXES`: the API, the snippet's endpoints, the carriers'
webhooks, health, metrics, demo calls) answer JSON ``{"error": {"code", "message",
"status"}}``; everything else is read by people and gets the dashboard's layout page
(``error.html`` in the visitor's language, with the dashboard's security headers).

Every error goes through :func:`render_error`: the app's exception handlers, the
dashboard's page wrapper (``backend.dashboard.web.error_page``) and the public edge's
early refusals (``backend.middleware``). The edge also reads :data:`MACHINE_PREFIXES` to
give machine answers ``Cache-Control: no-store`` and ``X-Frame-Options: DENY``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("callpath")

# Paths answered to programs, not people (errors as JSON, never cached, never framed).
MACHINE_PREFIXES = (
    "/api",
    "/v1",
    "/twilio",
    "/webhooks",
    "/dni.js",
    "/healthz",
    "/demo",
    "/metrics",
    "/feeds",
)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error with a status, a stable machine code and a message for people."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one shape of every JSON error."""
    return {"error": {"code": code, "message": message, "status": status, **extra}}


def is_machine_path(path: str) -> bool:
    """Whether ``path`` is answered to programs (JSON errors) rather than people."""
    return path.startswith(MACHINE_PREFIXES)


def wants_json(request: Request) -> bool:
    """Whether this request is answered with JSON errors rather than an HTML page."""
    return is_machine_path(request.url.path)


def code_for(status: int) -> str:
    """The stable machine code of an HTTP status (``error`` for one without its own)."""
    return _CODES.get(status, "error")


def render_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    viewer: Any = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An error as JSON on a machine path, else as the dashboard's layout page (in the
    ``viewer``'s language when one is signed in)."""
    if wants_json(request):
        response: Response = JSONResponse(
            error_body(status, code, message, **extra), status_code=status
        )
    else:
        # Imported here: the dashboard's plumbing imports this module for ApiError.
        from backend.dashboard.web import render

        context = {"status": status, "code": code, "message": message}
        response = render(request, viewer, "error.html", context, status=status)
    if headers:
        response.headers.update(headers)  # e.g. a 429's Retry-After
    return response


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return render_error(request, exc.status, exc.code, exc.message, **exc.extra)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return render_error(
        request, exc.status_code, code_for(exc.status_code), str(exc.detail), headers=exc.headers
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render_error(request, 500, "internal_error", "Something went wrong on our side.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: unhandled_error_handler,
}
