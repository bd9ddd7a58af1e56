"""A call's recordings and transcript, and the transcript rules, over the API (issue #22).

- ``GET /api/calls/{call_id}/recordings``: for a token that may see the call and hear
  recordings (403 for one that may not), the call's stored recordings with short-lived
  signed links to play and download them, and each one's transcript lines.
- ``GET /api/transcript_search?q=``: the calls in the token's scope whose transcript holds
  the words (normalised like the rules; Japanese through character bigrams in the store's
  full-text index), newest first; only for a token that may hear recordings.
- ``GET`` / ``PUT /api/recording_retention`` ``{"days"}``: how long an advertiser's
  recordings are kept (0: kept; past it the files are deleted and the call's audit says so).
- ``GET /api/transcript_rules``, ``POST /api/transcript_rules`` ``{"phrase", "outcome_id"?,
  "tag"?}``, ``PUT`` / ``DELETE /api/transcript_rules/{rule_id}``: an advertiser's phrases that
  suggest an outcome and add a tag when a transcript holds them
  (``attribution.transcripts``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import transcripts
from backend.api import openapi as oa
from backend.api.call_work import P_ADVERTISER, call_in_scope
from backend.api.endpoints import Endpoints
from backend.api.params import P_ADVERTISER as P_SCOPE_ADVERTISER
from backend.api.params import db_of, one_advertiser, path_id, request_scope
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object
from backend.recordings import links, retention
from backend.services import services
from pool.store import now_ms

api = Endpoints(tags=["calls"])

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
            "transcript": oa.array(LINE),
            "summary": {
                "type": ["object", "null"],
                "description": "The language model's summary (null: no summary provider"
                " when it was transcribed). status: pending, working, done or failed.",
                "properties": {
                    "status": {"type": "string"},
                    "text": {"type": "string"},
                    "language": {"type": "string"},
                    "outcome_id": {"type": ["integer", "null"]},
                    "reason": {"type": "string"},
                    "model": {"type": "string"},
                },
            },
        },
    },
)


RULE = oa.component(
    "TranscriptRule",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "phrase": {"type": "string"},
            "outcome_id": {"type": ["integer", "null"]},
            "tag": {"type": "string"},
            "position": {"type": "integer"},
            "created_ms": {"type": "integer"},
        },
    },
)
RULE_FIELDS = ("phrase", "outcome_id", "tag")
RULE_BODY = {
    "type": "object",
    "required": ["phrase"],
    "additionalProperties": False,
    "properties": {
        "phrase": {"type": "string", "maxLength": transcripts.PHRASE_MAX},
        "outcome_id": {"type": ["integer", "null"]},
        "tag": {"type": "string", "maxLength": 40},
    },
}
FOUND = {
    "type": "object",
    "properties": {"call_id": {"type": "integer"}, "started_ms": {"type": "integer"}},
}


RETENTION = {
    "type": "object",
    "properties": {"advertiser_id": {"type": "integer"}, "days": {"type": "integer"}},
}


@api.get(
    "/api/recording_retention",
    "How long an advertiser's recordings are kept",
    params=[P_ADVERTISER],
    ok="The period (0: kept)",
    returns=RETENTION,
)
async def get_retention(request: Request, principal: ApiPrincipal) -> Response:
    """Days from the call's start before its recordings are deleted (0: never)."""
    advertiser = one_advertiser(request, principal)
    days = await retention.retention_days(db_of(request), advertiser)
    if days is None:
        raise ApiError(404, "not_found", f"No advertiser {advertiser}.")
    return JSONResponse({"advertiser_id": advertiser, "days": days})


@api.put(
    "/api/recording_retention",
    "Set how long an advertiser's recordings are kept",
    params=[P_ADVERTISER],
    body={
        "type": "object",
        "required": ["days"],
        "additionalProperties": False,
        "properties": {"days": {"type": "integer", "minimum": 0, "maximum": retention.MAX_DAYS}},
    },
    ok="The period (0: kept)",
    returns=RETENTION,
)
async def put_retention(request: Request, principal: ApiPrincipal) -> Response:
    """Recordings of calls that started more than ``days`` ago are deleted at the next round
    of the recording jobs, each with an entry in its call's audit trail."""
    advertiser = one_advertiser(request, principal)
    data = await read_json_object(request, 256)
    days = data.get("days")
    if set(data) != {"days"} or not retention.valid_days(days):
        raise ApiError(422, "invalid", f"Field 'days' must be 0 to {retention.MAX_DAYS}.",
                       field="days")  # fmt: skip
    if not await retention.set_retention(db_of(request), advertiser, days):
        raise ApiError(404, "not_found", f"No advertiser {advertiser}.")
    return JSONResponse({"advertiser_id": advertiser, "days": days})


@api.get(
    "/api/transcript_search",
    "Calls whose transcript holds some words",
    params=[
        oa.query_param("q", {"type": "string", "minLength": 1, "maxLength": 100}, "The words."),
        P_SCOPE_ADVERTISER,
    ],
    ok="The calls, newest first (at most 500)",
    returns=oa.list_of("data", FOUND),
)
async def search(request: Request, principal: ApiPrincipal) -> Response:
    """Search the transcripts of the calls the token may see (422 without words; 403 for
    a token without the right to hear recordings: a transcript goes with its recording)."""
    if not principal.can_hear_recordings:
        raise ApiError(403, "forbidden", "This token may not hear recordings.")
    words = request.query_params.get("q", "")
    if not words.strip() or len(words) > transcripts.PHRASE_MAX:
        raise ApiError(422, "invalid", "Parameter 'q' needs 1 to 100 characters.", field="q")
    scope = request_scope(request, principal, site_param=None)
    where, params = scope.and_condition("c")
    db = db_of(request)
    found, more = transcripts.search_condition(words, db.dialect)
    rows = await db.fetchall(
        "SELECT c.id AS call_id, c.started_ms FROM calls c WHERE " + found + where
        + " ORDER BY c.started_ms DESC, c.id DESC LIMIT 500",
        {**params, **more},
    )  # fmt: skip
    return JSONResponse({"data": rows})


@api.get(
    "/api/calls/{call_id:int}/recordings",
    "A call's recordings (signed links) and transcripts",
    ok="The recordings kept by callpath",
    returns=oa.list_of("data", RECORDING),
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


@api.get(
    "/api/transcript_rules",
    "An advertiser's transcript rules",
    params=[P_ADVERTISER],
    ok="The rules in force",
    returns=oa.list_of("data", RULE),
)
async def list_rules(request: Request, principal: ApiPrincipal) -> Response:
    """The phrases that suggest an outcome and add a tag, in their order."""
    advertiser = one_advertiser(request, principal)
    return JSONResponse({"data": await transcripts.rules(db_of(request), advertiser)})


@api.post(
    "/api/transcript_rules",
    "Add a transcript rule: a phrase that suggests an outcome and adds a tag",
    params=[P_ADVERTISER],
    body=RULE_BODY,
    created="The rule",
    returns=RULE,
)
async def add_rule(request: Request, principal: ApiPrincipal) -> Response:
    """A rule at the end of the advertiser's list; transcripts made from now on follow it.
    Compared after width, case and kana folding (docs/privacy.md, docs/telephony.md)."""
    return JSONResponse(await _saved_rule(request, principal, None), status_code=201)


@api.put(
    "/api/transcript_rules/{rule_id:int}",
    "Change a transcript rule's phrase, outcome and tag",
    params=[P_ADVERTISER],
    body=RULE_BODY,
    ok="The rule",
    returns=RULE,
)
async def edit_rule(request: Request, principal: ApiPrincipal) -> Response:
    """The rule as sent (checked as a new one; it keeps its place in the list);
    transcripts made from now on follow it. 404 when it is not one of the advertiser's
    rules in force."""
    return JSONResponse(await _saved_rule(request, principal, path_id(request, "rule_id")))


async def _saved_rule(
    request: Request, principal: ApiPrincipal, rule_id: int | None
) -> dict[str, object]:
    """Add a rule (``rule_id`` None) or change one from the JSON body; the rule as kept
    (a refused field is a 422 naming it, a rule not in force at the advertiser a 404)."""
    advertiser = one_advertiser(request, principal)
    data = await read_json_object(request, 2048, fields=RULE_FIELDS)
    fields = {k: data.get(k) for k in ("phrase", "outcome_id")} | {"tag": data.get("tag", "")}
    db = db_of(request)
    async with db.write() as tx:
        if rule_id is None:
            rule_id = await transcripts.add_rule(
                tx, advertiser_id=advertiser, now_ms=now_ms(), **fields
            )
        elif not await transcripts.edit_rule(
            tx, advertiser_id=advertiser, rule_id=rule_id, **fields
        ):
            raise ApiError(404, "not_found", f"No rule {rule_id}.")
    return next(r for r in await transcripts.rules(db, advertiser) if r["id"] == rule_id)


@api.delete(
    "/api/transcript_rules/{rule_id:int}",
    "Stop a transcript rule",
    params=[P_ADVERTISER],
    no_content="Stopped",
)
async def delete_rule(request: Request, principal: ApiPrincipal) -> Response:
    """Stop a rule (calls it marked keep their outcome and tags); 404 when it is not one
    of the advertiser's rules in force."""
    advertiser = one_advertiser(request, principal)
    rule_id = path_id(request, "rule_id")
    async with db_of(request).write() as tx:
        done = await transcripts.retire_rule(
            tx, advertiser_id=advertiser, rule_id=rule_id, now_ms=now_ms()
        )
    if not done:
        raise ApiError(404, "not_found", f"No rule {rule_id}.")
    return Response(status_code=204)


routes = api.routes
