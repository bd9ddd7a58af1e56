"""A call's recordings and transcript over the API (issue #22).

``GET /api/calls/{call_id}/recordings``: for a token that may see the call and hear
recordings (403 for one that may not), the call's stored recordings with short-lived
signed links to play and download them, and each one's transcript lines.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import openapi as oa
from backend.api.call_work import call_in_scope
from backend.api.params import authorized, db_of
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.recordings import links
from backend.services import services
from pool.store import now_ms

LINE = {
    "type": "object",
    "properties": {
        "channel": {"type": "integer", "description": "0: the caller, 1: the business"},
        "start_ms": {"type": "integer"},
        "end_ms": {"type": "integer"},
        "text": {"type": "string"},
    },
}
RECORDING = oa.component(
    "Recording",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "duration_ms": {"type": "integer"},
            "channels": {"type": "integer"},
            "format": {"type": "string"},
            "play_url": {"type": "string", "description": "A signed link; expires."},
            "download_url": {"type": "string", "description": "A signed link; expires."},
            "links_expire_ms": {"type": "integer"},
            "transcript_status": {"type": "string"},
            "transcript": {"type": "array", "items": LINE},
        },
    },
)


@oa.operation(
    "GET",
    "/api/calls/{call_id}/recordings",
    summary="A call's recordings (signed links) and transcripts",
    tags=["calls"],
    params=[oa.path_param("call_id")],
    responses={
        200: oa.json_response(
            "The recordings kept by callpath",
            oa.wrapped("data", {"type": "array", "items": RECORDING}),
        )
    },
)
async def call_recordings(request: Request, principal: ApiPrincipal) -> Response:
    """Links to hear and download each stored recording, valid a few minutes, and its
    transcript. 403 for a token without the right to hear recordings."""
    call_id = await call_in_scope(request, principal)
    if not principal.can_hear_recordings:
        raise ApiError(403, "forbidden", "This token may not hear recordings.")
    settings = request.app.state.settings
    data = await links.for_call(
        db_of(request),
        services(request).recording_links,
        call_id,
        now_ms=now_ms(),
        life_ms=settings.recording_link_seconds * 1000,
    )
    return JSONResponse({"data": data})


routes = [
    Route("/api/calls/{call_id:int}/recordings", authorized(call_recordings), methods=["GET"])
]
