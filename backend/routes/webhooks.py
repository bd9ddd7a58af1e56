"""``POST /webhooks/calls``: call events from other carriers and PBXs, signed HMAC-SHA256."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.errors import ApiError
from backend.http import json_object, read_body
from backend.observability.context import bind_call
from backend.telephony import pbx, signature
from backend.telephony.service import telephony_of

log = logging.getLogger("callpath.telephony")


async def calls(request: Request) -> Response:
    """A call started or ended on a PBX: answer the forwarding target as JSON."""
    tel = telephony_of(request)
    settings = tel.settings
    if not settings.calls_webhook_secret:
        raise ApiError(403, "forbidden", "CALLPATH_CALLS_WEBHOOK_SECRET is not set on this server.")
    timestamp = request.headers.get(signature.PBX_TIMESTAMP_HEADER, "")
    sent = request.headers.get(signature.PBX_SIGNATURE_HEADER, "")
    if not timestamp or not sent or len(sent) > 400:
        raise ApiError(
            403, "forbidden", "X-Callpath-Timestamp and X-Callpath-Signature are required."
        )
    body = await read_body(request)
    if not signature.pbx_valid(
        settings.calls_webhook_secret,
        timestamp,
        body,
        sent,
        now_s=pbx.now_s(),
        tolerance_s=settings.calls_webhook_tolerance_seconds,
    ):
        raise ApiError(403, "forbidden", "The signature does not match or the request is too old.")
    event = pbx.parse(json_object(body))
    bind_call(event.call_id)
    log.info("call webhook: call %r %s", event.call_id[:128], event.kind)
    return JSONResponse(await pbx.answer(tel, event))


routes = [Route("/webhooks/calls", calls, methods=["POST"])]
