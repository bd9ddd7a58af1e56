"""One place that turns exceptions into responses.

Machine paths (``/api``, ``/v1``, ``/twilio``, ``/webhooks``, ``/dni.js``, ``/demo``) answer JSON
``{"error": {"code", "message", "status"}}``; everything else (the dashboard) renders an
HTML error page.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from backend.security_headers import secure

log = logging.getLogger("callpath")

JSON_PREFIXES = ("/api", "/v1", "/twilio", "/webhooks", "/dni.js", "/healthz", "/demo", "/metrics")

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


def wants_json(request: Request) -> bool:
    """Whether this request is answered with JSON errors rather than an HTML page."""
    return request.url.path.startswith(JSON_PREFIXES)


def _render(request: Request, status: int, code: str, message: str, **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse(error_body(status, code, message, **extra), status_code=status)
    # An HTML error page gets the dashboard's headers (CSP, no framing, no caching) too.
    templates = getattr(request.app.state, "templates", None)
    if templates is None:
        return secure(HTMLResponse(f"<h1>{status}</h1><p>{message}</p>", status_code=status))
    return secure(
        templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "code": code, "message": message},
            status_code=status,
        )
    )


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _render(request, exc.status, exc.code, exc.message, **exc.extra)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    response = _render(request, exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _render(request, 500, "internal_error", "Something went wrong on our side.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: unhandled_error_handler,
}
