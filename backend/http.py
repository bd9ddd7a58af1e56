"""Reading bounded input from requests, and the one rule of how large a body may be."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from backend.errors import ApiError
from backend.settings import Settings

# The carriers' webhooks: their bodies may be larger than a visit's (CALLPATH_MAX_WEBHOOK_...).
WEBHOOK_PREFIXES = ("/twilio/", "/webhooks/")


def body_limit(settings: Settings, path: str) -> int:
    """The largest body a request to ``path`` may send, by the settings.

    The one place the body-limit settings are read: the public edge
    (:class:`backend.middleware.PublicEdgeMiddleware`) and every route that reads its body
    without a tighter cap of its own (:func:`read_body`) both ask here.
    """
    if path.startswith(WEBHOOK_PREFIXES):
        return settings.max_webhook_body_bytes
    return settings.max_body_bytes


async def read_body(request: Request, max_bytes: int | None = None) -> bytes:
    """The request body, refused with 413 past ``max_bytes`` without reading it all.

    ``max_bytes`` is a route's own tighter cap; without one, the path's :func:`body_limit`.
    """
    if max_bytes is None:
        max_bytes = body_limit(request.app.state.settings, request.url.path)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "Content-Length is not a number.")
        if int(declared) > max_bytes:
            raise ApiError(413, "payload_too_large", f"Body is larger than {max_bytes} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "payload_too_large", f"Body is larger than {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(
    request: Request, max_bytes: int | None = None, *, fields: Any = None
) -> dict[str, Any]:
    """A JSON object body (sent as text/plain or application/json), bounded in size
    (``max_bytes``, as for :func:`read_body`); with ``fields``, none but those (else 422
    naming the first other one, :func:`only_fields`)."""
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise ApiError(400, "bad_request", "Body is empty; a JSON object is expected.")
    data = json_object(body)
    if fields is not None:
        only_fields(data, fields)
    return data


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` parsed as a JSON object, else 400 (for routes that keep the raw bytes too)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"Body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "Body must be a JSON object.")
    return data


def only_fields(data: dict[str, Any], allowed: Any) -> None:
    """422 naming the first field of a JSON body that is not one of ``allowed``."""
    for key in data:
        if key not in allowed:
            raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)


def string_field(
    data: dict[str, Any], name: str, *, max_len: int, required: bool = False, cut: bool = False
) -> str:
    """A string field of a JSON body, bounded; missing optional fields read as ''. With
    ``cut`` a longer value is cut to ``max_len`` characters instead of refused."""
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(422, "invalid", f"Field {name!r} is required.", field=name)
        return ""
    if not isinstance(value, str):
        raise ApiError(422, "invalid", f"Field {name!r} must be a string.", field=name)
    if cut:
        value = value[:max_len]
    if len(value) > max_len:
        raise ApiError(
            422, "invalid", f"Field {name!r} is longer than {max_len} characters.", field=name
        )
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; no URL, title or key needs one.
        raise ApiError(422, "invalid", f"Field {name!r} contains a NUL character.", field=name)
    return value


def client_ip(request: Request) -> str:
    """The visitor's address ('' if unknown): the connection's peer, or the client a
    trusted proxy named (``CALLPATH_TRUSTED_PROXIES``, resolved by ``backend.proxies``)."""
    return request.client.host[:64] if request.client else ""
