"""Request ids: one per HTTP request, on every log line it causes and on its answer.

The id is taken from the request's ``X-Request-Id`` when that is well formed (a proxy in
front, nginx's ``$request_id`` for instance, already made one, and the two logs then
agree), else made here. It lives in a context variable for the request's task, so every
log record made while serving it carries it (``backend.observability.logs``), and work
handed to a background task carries it along explicitly (the call recorder stamps it on
the queued event). For a Twilio webhook the call's ``CallSid`` joins it, so one grep finds
a call from the webhook to its row in storage.

:class:`RequestContext` is the ASGI middleware that sets both, answers the id in the
``X-Request-Id`` header and times the telephony webhooks for the metrics.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str] = ContextVar("callpath_request_id", default="")
CALL_SID: ContextVar[str] = ContextVar("callpath_call_sid", default="")
HEADER = b"x-request-id"
# What an incoming id may look like: enough for nginx ($request_id, 32 hex digits), uuids
# and most tracing ids; nothing that could break a log line or a header (no spaces,
# quotes, control characters), and short.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
_SID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Observes (path, status, seconds) of one webhook request (status 0: no answer was
# started); see `backend.observability.metrics`.
WebhookTimer = Callable[[str, int, float], None]


def new_request_id() -> str:
    """A fresh id: 16 hex digits, random (unique enough to grep for across instances)."""
    return os.urandom(8).hex()


def accepted_request_id(value: str | None) -> str | None:
    """``value`` when it is a well-formed id to adopt, else None (one is made instead)."""
    if value and _WELL_FORMED.fullmatch(value):
        return value
    return None


def current_request_id() -> str:
    """The id of the request being served (empty outside a request)."""
    return REQUEST_ID.get()


def loggable_call_id(call_id: str) -> str:
    """``call_id`` when it is safe to print on a log line as it is (a Twilio CallSid
    always is; another carrier's id may not be), else empty."""
    return call_id if _SID.fullmatch(call_id) else ""


def bind_call(call_sid: str) -> None:
    """Name the call this request is about on its log lines (ignored when malformed)."""
    if loggable_call_id(call_sid):
        CALL_SID.set(call_sid)


class RequestContext:
    """Sets the request id (and clears the call) for each HTTP request; answers the id in
    ``X-Request-Id``; times requests under ``timed_prefixes`` through ``timer``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        timer: WebhookTimer | None = None,
        timed_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.timer = timer
        self.timed_prefixes = timed_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == HEADER:
                rid = accepted_request_id(value.decode("latin-1"))
                break
        rid = rid or new_request_id()
        header = (HEADER, rid.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        rid_token = REQUEST_ID.set(rid)
        sid_token = CALL_SID.set("")
        path: str = scope["path"]
        timed = self.timer is not None and path.startswith(self.timed_prefixes)
        started = time.perf_counter() if timed else 0.0
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if timed and self.timer is not None:
                self.timer(path, status, time.perf_counter() - started)
        # Reset only after a normal answer: an exception goes on to the app's outermost
        # handler (Starlette's, outside every middleware), which logs it, and that line
        # must still carry the request's id. Each request has a task of its own anyway.
        CALL_SID.reset(sid_token)
        REQUEST_ID.reset(rid_token)
