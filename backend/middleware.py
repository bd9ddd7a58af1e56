"""The public edge: body limits on public POSTs, CORS for the snippet, baseline headers;
and compression where it pays (:class:`CompressionMiddleware`).

The edge is one pure ASGI middleware (no response buffering, so streamed exports stay
streamed):

- **Body limits.** Every request to a public path (``/v1/*`` for the snippet, ``/twilio/*``
  and ``/webhooks/*`` for telephony, the ``/login`` and ``/logout`` forms) is refused with
  413 when its ``Content-Length`` is over the limit, and, when it has none (chunked), as
  soon as the bytes read pass the limit, whatever the route does with its body (JSON,
  forms). Refusals are written by the one error renderer (``backend.errors``): JSON on
  machine paths, the layout page on the forms.
- **CORS.** The snippet posts ``text/plain`` from the customer's pages, which needs no
  preflight and carries no cookies; every ``/v1/*`` and ``/dni.js`` answer, errors
  included, says ``Access-Control-Allow-Origin: *`` so the page may read it. No other path
  gets CORS headers from here (the API and dashboard are same-origin only).
- **Heartbeat rate.** ``/v1/heartbeat`` renews leases, a write each; one address may send
  :data:`HEARTBEAT_BURST` at once, then :data:`HEARTBEAT_PER_MINUTE` (a page sends one a
  minute), else 429 ``rate_limited``. Session requests are limited by the ingest
  pipeline instead, which answers them like any untracked visit.
- **Headers.** ``X-Content-Type-Options: nosniff`` on every answer, and on machine paths
  (``backend.errors.MACHINE_PREFIXES``, the list that also picks JSON errors)
  ``Cache-Control: no-store`` (answers are per visitor or per caller) and
  ``X-Frame-Options: DENY``, each only when the route did not set its own.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attribution.netaddr import ip_key
from attribution.ratelimit import TokenBuckets
from backend.errors import MACHINE_PREFIXES, ApiError, render_error
from backend.http import WEBHOOK_PREFIXES, body_limit
from backend.settings import Settings
from pool.store import now_ms

SNIPPET_PREFIXES = ("/v1/", "/dni.js")
# Forms anyone may post without signing in; everything else in the dashboard and the API
# needs a session or a token first.
ANONYMOUS_FORMS = ("/login", "/logout", "/setup")
HEARTBEAT_PER_MINUTE = 120
HEARTBEAT_BURST = 60


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"Body is larger than {limit} bytes.")


class PublicEdgeMiddleware:
    """Body limits, snippet CORS and baseline security headers (see the module doc)."""

    def __init__(self, app: ASGIApp, *, settings: Settings):
        self.app = app
        self.settings = settings
        self.heartbeats = TokenBuckets(rate_per_s=HEARTBEAT_PER_MINUTE / 60, burst=HEARTBEAT_BURST)

    def _limit(self, path: str) -> int | None:
        if path.startswith(("/v1/", *WEBHOOK_PREFIXES)) or path in ANONYMOUS_FORMS:
            return body_limit(self.settings, path)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        cors = path.startswith(SNIPPET_PREFIXES)
        machine = path.startswith(MACHINE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-content-type-options" not in headers:
                    headers["X-Content-Type-Options"] = "nosniff"
                if machine:
                    if "cache-control" not in headers:
                        headers["Cache-Control"] = "no-store"
                    if "x-frame-options" not in headers:
                        headers["X-Frame-Options"] = "DENY"
                if cors and "access-control-allow-origin" not in headers:
                    headers["Access-Control-Allow-Origin"] = "*"
            await send(message)

        if path == "/v1/heartbeat" and scope["method"] == "POST":
            client = scope.get("client")
            if not self.heartbeats.take(ip_key(client[0] if client else None), now_ms()):
                response = render_error(
                    Request(scope),
                    429,
                    "rate_limited",
                    "Too many heartbeats from this address.",
                    headers={"Retry-After": "1"},
                )
                await response(scope, receive, send_with_headers)
                return
        limit = self._limit(path)
        if limit is None:
            await self.app(scope, receive, send_with_headers)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            status, code, message = (
                (413, "payload_too_large", f"Body is larger than {limit} bytes.")
                if declared.strip().isdigit()
                else (400, "bad_request", "Content-Length is not a number.")
            )
            response = render_error(Request(scope), status, code, message)
            await response(scope, receive, send_with_headers)
            return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route's body read, so the app's error handler
                    # answers it with the JSON shape like any other ApiError.
                    raise _too_large(limit)
            return message

        await self.app(scope, bounded_receive, send_with_headers)


# Answers a few hundred bytes long (the snippet's JSON, TwiML): never worth compressing, and
# Starlette's gzip layer costs about 20 µs a request to find that out (docs/benchmarks.md).
UNCOMPRESSED_PREFIXES = ("/v1/", *WEBHOOK_PREFIXES)


class CompressionMiddleware:
    """GZip for pages, the API and ``/dni.js``; the snippet's and carriers' answers skip it."""

    def __init__(self, app: ASGIApp, minimum_size: int = 500) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(UNCOMPRESSED_PREFIXES):
            await self.app(scope, receive, send)
        else:
            await self.gzip(scope, receive, send)
