"""The snippet's endpoints: ``POST /v1/session`` and ``POST /v1/heartbeat``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from attribution import guard
from attribution.conversions import ga_client_id
from attribution.ingest import IngestConfig, Pipeline, UnknownSite, Visit, note_seen_targets
from attribution.sessions import PageView, add_page_view
from attribution.tag_seen import TagSeen
from attribution.tokens import SESSION_TOKEN, Signer
from backend.errors import ApiError
from backend.http import client_ip, read_json_object, string_field
from backend.storage.trouble import STORAGE_TROUBLE, storage_trouble
from pool import leases
from pool.store import Store, Tx, now_ms

CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
# The digit runs a page may report (`found`): at most this many, each at most this long.
MAX_FOUND = 400
MAX_RUN = 40
# The targets a page view reports as shown (`seen`, E.164): the last this many are read.
MAX_SEEN = 50


def _json(data: Any, status: int = 200) -> Response:
    # orjson: the snippet's answers are the app's hottest responses.
    return Response(orjson.dumps(data), status, CORS, "application/json")


def _pipeline(request: Request) -> Pipeline:
    """The app's ingest pipeline, built once per open database."""
    state = request.app.state
    db: Store = state.db
    pipeline: Pipeline | None = getattr(state, "ingest_pipeline", None)
    if pipeline is None or pipeline.db is not db:
        settings = state.settings
        config = IngestConfig(
            settings.secret_key,
            geoip_city_db=settings.geoip_city_db,
            # Codes are kept at least an hour even with the late-call window off.
            code_window_ms=max(settings.late_call_window_seconds, 3600) * 1000,
            code_life_ms=settings.visit_code_days * 86_400_000,
        )
        pipeline = state.ingest_pipeline = Pipeline(db, config)
        limits = guard.GuardLimits(
            rate_per_minute=settings.ip_rate_per_minute,
            burst=settings.ip_rate_burst,
            live_sessions=settings.ip_max_live_sessions,
        )
        guard.install(pipeline, guard.FloodGuard(limits))
        pipeline.on_step = state.metrics.ingest_step
    return pipeline


async def session(request: Request) -> Response:
    """Ingest a page view of a visit; answer its token and a number for each target."""
    settings = request.app.state.settings
    data = await read_json_object(request)
    visit = Visit(
        site_key=string_field(data, "site", max_len=64, required=True),
        url=string_field(data, "url", max_len=2048, required=True, cut=True),
        referrer=string_field(data, "referrer", max_len=2048, cut=True),
        title=string_field(data, "title", max_len=512, cut=True),
        token=string_field(data, "token", max_len=512),
        # The _ga cookie as the snippet reads it (GA1.1.123.456): its client id (123.456).
        ga=ga_client_id(string_field(data, "ga", max_len=64)),
        gs=string_field(data, "gs", max_len=400),
        found=_found(data),
        user_agent=request.headers.get("user-agent", "")[:512],
        origin=request.headers.get("origin", "")[:512],
        accept_language=request.headers.get("accept-language", "")[:256],
        ip=client_ip(request),
        now_ms=now_ms(),
    )
    pipeline = _pipeline(request)
    metrics = request.app.state.metrics
    timeout = settings.visit_timeout_ms / 1000 if settings.visit_timeout_ms > 0 else None
    try:
        # asyncio.timeout, not wait_for: wait_for wraps the visit in a task of its own,
        # about 30 µs a request on this, the hottest path.
        async with asyncio.timeout(timeout):
            outcome = await pipeline.run(visit)
    except UnknownSite:
        metrics.visit("unknown_site")
        raise ApiError(404, "unknown_site", f"No site has the key {visit.site_key!r}.") from None
    except STORAGE_TROUBLE as exc:
        # Storage too slow (a locked table, a stalled server) or failing (a full disk):
        # the visit is answered untracked, as a drop is, and the page keeps its numbers.
        storage_trouble(request.app.state).report("visit", exc)
        metrics.visit("storage_trouble")
        return _json(
            {
                "token": visit.token or pipeline.signer.sign(0),
                "swaps": [],
                "ttl": 0,
                "heartbeat": settings.heartbeat_seconds,
            }
        )
    if outcome.dropped is not None:
        metrics.visit("dropped")
    else:
        metrics.visit("tracked" if outcome.swaps else "untracked")
    if outcome.dropped is None and visit.site is not None:
        await _tag_seen(request, visit.site.id, visit.url, visit.now_ms)
    return _json(
        {
            "token": outcome.token,
            "swaps": outcome.swaps,
            "ttl": outcome.ttl_ms // 1000,
            "heartbeat": settings.heartbeat_seconds,
        }
    )


async def _tag_seen(request: Request, site_id: int, url: str, now: int) -> None:
    """Note where the site's tag works (at most once a minute per site and page origin)."""
    state = request.app.state
    seen: TagSeen | None = getattr(state, "tag_seen", None)
    if seen is None:
        seen = state.tag_seen = TagSeen()
    settings = state.settings
    # Bounded like the visit itself: a slow store never holds the answer for a checklist.
    timeout = settings.visit_timeout_ms / 1000 if settings.visit_timeout_ms > 0 else None
    try:
        async with asyncio.timeout(timeout):
            await seen.record(state.db, site_id, url, now)
    except STORAGE_TROUBLE as exc:
        # Only the checklist's "tag seen" waits for the next minute; the visit is answered.
        storage_trouble(request.app.state).report("visit", exc)


def _found(data: dict[str, Any]) -> list[str] | None:
    """The phone-shaped digit runs the snippet saw on the page; None when not sent.

    Items that are not runs of digits are left out (a false run costs nothing; a missing
    one only means no number for that target); past ``MAX_FOUND`` the rest is ignored.
    """
    value = data.get("found")
    if value is None:
        return None
    if not isinstance(value, list):
        raise ApiError(422, "invalid", "Field 'found' must be a list.", field="found")
    return [
        run
        for run in value[:MAX_FOUND]
        if isinstance(run, str) and len(run) <= MAX_RUN and run.isascii() and run.isdigit()
    ]


async def heartbeat(request: Request) -> Response:
    """Keep the session's live leases; 410 when none is left (the snippet asks again)."""
    settings = request.app.state.settings
    db: Store = request.app.state.db
    data = await read_json_object(request)
    token = string_field(data, "token", max_len=512, required=True)
    # The page the snippet reports with the beat, if any (checked whether or not it is used).
    url = string_field(data, "url", max_len=2048, cut=True)
    title = string_field(data, "title", max_len=512, cut=True)
    referrer = string_field(data, "referrer", max_len=2048, cut=True)
    view = PageView(url, title, referrer) if url else None
    seen = _seen(data)
    session_id = Signer(settings.secret_key, SESSION_TOKEN).read(token)
    if not isinstance(session_id, int):
        raise ApiError(400, "bad_token", "The token is not one this server issued.")
    origin = request.headers.get("origin", "")[:512]
    timeout = settings.visit_timeout_ms / 1000 if settings.visit_timeout_ms > 0 else None
    try:
        async with asyncio.timeout(timeout):
            ttl_ms = await _extend_session(db, session_id, now_ms(), view, origin, seen)
    except STORAGE_TROUBLE as exc:
        # The snippet keeps its numbers and beats again later (it asks anew only on 410).
        storage_trouble(request.app.state).report("heartbeat", exc)
        raise ApiError(503, "storage_unavailable", "Storage is not available; try later.") from None
    if ttl_ms == 0:
        return _json(
            {"error": {"code": "gone", "message": "The lease has ended.", "status": 410}}, 410
        )
    return _json({"ttl": ttl_ms // 1000})


def _seen(data: dict[str, Any]) -> list[str]:
    """The targets (E.164) the page view's numbers were swapped for, in page order; items
    that are not E.164-shaped are left out; only the last ``MAX_SEEN`` are read (the last
    one shown is the one that counts)."""
    value = data.get("seen")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(422, "invalid", "Field 'seen' must be a list.", field="seen")
    return [
        n
        for n in value[-MAX_SEEN:]
        if isinstance(n, str) and 3 <= len(n) <= 17 and n[0] == "+" and n[1:].isdigit()
    ]


async def _extend_session(
    db: Store,
    session_id: int,
    now: int,
    view: PageView | None = None,
    origin: str = "",
    seen: list[str] | None = None,
) -> int:
    """Extend the session's live leases in one unit; the longest ttl left (0: none).

    Overflow leases too: the page shows the overflow number as long as it is open, so the
    lease must last as long (a call to it is then still matched to the visit), and a
    visitor on it must not get 410 (the snippet would ask ``/v1/session`` on every beat,
    adding the page to the click path each time). The visitor moves to a pool number on its
    next ``/v1/session``, never under the eyes of someone reading the number.

    ``view``: the page the heartbeat reports (a later page of the visit, or a route change
    of a single-page app), added to the session's click path while a lease is live. With no
    lease left the answer is 410 and the snippet asks ``/v1/session``, which records it.
    ``seen``: the targets that page showed (one number per visitor: where calls now go).
    """

    async def unit(tx: Tx) -> int:
        ttl_ms = 0
        live = await tx.fetchall(
            "SELECT id FROM leases WHERE session_id = :s AND ended_ms IS NULL",
            {"s": session_id},
        )
        for row in live:
            expires = await leases.extend(tx, lease_id=row["id"], now_ms=now)
            if expires is not None:
                ttl_ms = max(ttl_ms, expires - now)
        if ttl_ms and view is not None:
            if await add_page_view(tx, session_id=session_id, page=view, now_ms=now, origin=origin):
                await note_seen_targets(tx, session_id, seen or [])
        return ttl_ms

    return await db.transact(unit)


async def preflight(request: Request) -> Response:
    """CORS preflight for clients that send application/json."""
    return Response(
        status_code=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


routes = [
    Route("/v1/session", session, methods=["POST"]),
    Route("/v1/heartbeat", heartbeat, methods=["POST"]),
    Route("/v1/session", preflight, methods=["OPTIONS"]),
    Route("/v1/heartbeat", preflight, methods=["OPTIONS"]),
]
