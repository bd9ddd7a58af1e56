"""Uploaded prompt audio over the API (issue #18).

- ``POST /api/audio?name=…`` with the file as the body (``audio/mpeg`` or ``audio/wav``;
  an unscoped token adds ``advertiser_id``): 201 ``{"audio": {...}}``; 422 unless the
  bytes are mp3 or wav, 413 past ``backend.telephony.audio.MAX_BYTES``.
- ``GET /api/audio``: the files of the token's advertisers (without their bytes).

A flow plays one with a prompt ``{"audio": id}``; Twilio fetches it at a signed URL that
expires (``/twilio/audio/{id}``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, int_param
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_body
from backend.telephony import audio

api = Endpoints(tags=["flows"])

_PROPS = {
    "id": {"type": "integer"},
    "advertiser_id": {"type": "integer"},
    "name": {"type": "string"},
    "content_type": {"type": "string", "enum": ["audio/mpeg", "audio/wav"]},
    "bytes": {"type": "integer"},
    "sha256": {"type": "string"},
    "created_ms": {"type": "integer"},
}
AUDIO = oa.component("FlowAudio", oa.record(_PROPS))
_ADVERTISER = oa.query_param(
    "advertiser_id", {"type": "integer", "minimum": 1}, "Whose file (unscoped tokens)."
)


@api.post(
    "/api/audio",
    "Upload a prompt's audio (mp3 or wav)",
    params=[
        oa.query_param("name", {"type": "string", "maxLength": 100}, "A name to know it by."),
        _ADVERTISER,
    ],
    body={"type": "string", "format": "binary"},
    body_media="application/octet-stream",
    created="The file kept",
    returns=oa.wrapped("audio", AUDIO),
)
async def upload(request: Request, principal: ApiPrincipal) -> Response:
    """Keep an mp3 or wav file (judged by its bytes) for the advertiser's call flows."""
    advertiser_id = principal.advertiser_id
    if advertiser_id is None:
        advertiser_id = int_param(request, "advertiser_id")
        if advertiser_id is None:
            raise ApiError(422, "invalid", "advertiser_id is required.", field="advertiser_id")
    name = request.query_params.get("name", "")
    if len(name) > 100:
        raise ApiError(422, "invalid", "name is at most 100 characters.", field="name")
    data = await read_body(request, audio.MAX_BYTES)
    db = db_of(request)
    if not await db.fetchval("SELECT 1 FROM advertisers WHERE id = :a", {"a": advertiser_id}):
        raise ApiError(404, "not_found", "No such advertiser.")
    try:
        kept = await audio.store(db, advertiser_id=advertiser_id, name=name, data=data)
    except audio.AudioError as exc:
        raise ApiError(422, "invalid", str(exc).capitalize() + ".") from exc
    return JSONResponse({"audio": kept}, status_code=201)


@api.get("/api/audio", "Uploaded prompt audio", ok="The files", returns=oa.list_of("audio", AUDIO))
async def list_audio(request: Request, principal: ApiPrincipal) -> Response:
    """The files of the token's advertisers, newest first (without their bytes)."""
    where, params = principal.scope.where_condition(site=None)
    rows = await db_of(request).fetchall(
        audio.LIST_SQL + where + " ORDER BY id DESC LIMIT 500", params
    )
    return JSONResponse({"audio": rows})


routes = api.routes
