"""``/api/calls/{id}/work`` and ``/api/outcomes``: calls worked by hand through the API.

The same operations as the call page (:mod:`attribution.call_work`): a qualification verdict
with its reason, tags, a note, an outcome from the advertiser's list and a value in yen,
every change audited with the token's user. Reads follow the token's scope (another
advertiser's call is a 404); writes need a token that is not read-only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import call_work as cw
from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, one_advertiser, path_id
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object
from pool.store import now_ms

api = Endpoints(tags=["calls"])

_STR = {"type": "string"}
_NINT = {"type": ["integer", "null"]}
OUTCOME = oa.component(
    "Outcome",
    {
        "type": "object",
        "required": ["id", "label", "kind"],
        "properties": {
            "id": {"type": "integer"},
            "label": {
                "type": "string",
                "description": "The name people gave it; the built-in ones are '@won', "
                "'@open' and '@lost' (shown as 成約 / 見込み / 不成立).",
            },
            "kind": {"type": "string", "enum": list(cw.OUTCOME_KINDS)},
            "value_yen": {
                "type": ["integer", "null"],
                "description": "What a call with it is worth to conversion actions valued"
                " by outcome (null: nothing set).",
            },
        },
    },
)
_VALUE = {"type": ["integer", "null"], "minimum": 0, "maximum": cw.VALUE_MAX}
AUDIT = {
    "type": "object",
    "required": ["at_ms", "actor", "field", "before", "after"],
    "properties": {
        "at_ms": {"type": "integer"},
        "actor": _STR,
        "field": _STR,
        "before": _STR,
        "after": _STR,
    },
}
WORK = oa.component(
    "CallWork",
    {
        "type": "object",
        "required": [
            "qualified",
            "qualified_by_hand",
            "qualified_reason",
            "tags",
            "note",
            "outcome_id",
            "value_yen",
            "audit",
        ],
        "properties": {
            "qualified": {"type": "boolean"},
            "qualified_by_hand": {
                "type": ["boolean", "null"],
                "description": "The verdict a person set (null: the site's rules decide).",
            },
            "qualified_reason": _STR,
            "tags": oa.array(_STR),
            "note": _STR,
            "outcome_id": _NINT,
            "value_yen": _NINT,
            "audit": {"type": "array", "items": AUDIT, "description": "Newest first."},
            "outcome_suggested_id": {
                "type": ["integer", "null"],
                "description": "The machine's suggested outcome, kept beside the one people"
                " set (which it never overwrites).",
            },
            "outcome_suggested_reason": _STR,
            "outcome_suggested_by": {
                "type": "string",
                "enum": ["", "rules", "model"],
                "description": "A transcript rule's suggestion or the language model's.",
            },
        },
    },
)
WORK_CHANGE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "qualified": {
            "type": ["boolean", "null"],
            "description": "Set the verdict by hand (with qualified_reason), or null to hand it "
            "back to the site's rules.",
        },
        "qualified_reason": {"type": "string", "maxLength": cw.REASON_MAX},
        "tags": {
            "type": "array",
            "items": {"type": "string", "maxLength": cw.TAG_MAX},
            "maxItems": cw.TAGS_MAX,
        },
        "note": {"type": "string", "maxLength": cw.NOTE_MAX},
        "outcome_id": _NINT,
        "value_yen": {"type": ["integer", "null"], "minimum": 0, "maximum": cw.VALUE_MAX},
    },
}
_FIELDS = tuple(WORK_CHANGE["properties"])  # type: ignore[call-overload]


def _work_out(work: cw.CallWork) -> dict[str, Any]:
    return {
        "qualified": work.qualified,
        "qualified_by_hand": work.qualified_by_hand,
        "qualified_reason": work.qualified_reason,
        "tags": work.tags,
        "note": work.note,
        "outcome_id": work.outcome_id,
        "value_yen": work.value_yen,
        "audit": [dataclasses.asdict(a) for a in work.audit],
        "outcome_suggested_id": work.outcome_suggested_id,
        "outcome_suggested_reason": work.outcome_suggested_reason,
        "outcome_suggested_by": work.outcome_suggested_by,
    }


async def call_in_scope(request: Request, principal: ApiPrincipal) -> int:
    """The id of the path's call when the principal may see it, else 404."""
    call_id = path_id(request, "call_id")
    where, params = principal.scope.call_condition("c")
    found = await db_of(request).fetchval(
        "SELECT c.id FROM calls c WHERE c.id = :id AND " + where, {**params, "id": call_id}
    )
    if found is None:
        raise ApiError(404, "not_found", f"No call {call_id}.")
    return call_id


@api.get(
    "/api/calls/{call_id:int}/work",
    "What people set on a call, with its audit trail",
    ok="The call's work",
    returns=WORK,
)
async def get_work(request: Request, principal: ApiPrincipal) -> Response:
    """The verdict, tags, note, outcome and value of a call, and who changed them."""
    call_id = await call_in_scope(request, principal)
    return JSONResponse(_work_out(await cw.read_work(db_of(request), call_id)))


@api.patch(
    "/api/calls/{call_id:int}/work",
    "Work a call: verdict with reason, tags, note, outcome, value",
    body=WORK_CHANGE,
    ok="The call's work after the change",
    returns=WORK,
)
async def patch_work(request: Request, principal: ApiPrincipal) -> Response:
    """Change the fields given (others stay); every field that changes is audited."""
    call_id = await call_in_scope(request, principal)
    data = await read_json_object(request, 16_384, fields=_FIELDS)
    changes = cw.CallChanges(**{k: data[k] for k in _FIELDS if k in data})
    db = db_of(request)
    async with db.write() as tx:
        await cw.work_call(
            tx, call_id=call_id, changes=changes, actor=actor(principal), now_ms=now_ms()
        )
    return JSONResponse(_work_out(await cw.read_work(db, call_id)))


P_ADVERTISER = oa.query_param(
    "advertiser_id", {"type": "integer"}, "Whose list (required for an unscoped token)."
)


@api.get(
    "/api/outcomes",
    "An advertiser's call outcomes",
    params=[P_ADVERTISER],
    ok="The outcomes in their order",
    returns={"type": "object", "properties": {"data": oa.array(OUTCOME)}},
)
async def list_outcomes(request: Request, principal: ApiPrincipal) -> Response:
    """The outcomes people can give the advertiser's calls, in their order."""
    advertiser = one_advertiser(request, principal)
    rows = await cw.outcomes(db_of(request), advertiser)
    return JSONResponse({"data": [_outcome_out(r) for r in rows]})


def _outcome_out(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "label": row["label"],
        "kind": row["kind"],
        "value_yen": row["value_yen"],
    }


@api.post(
    "/api/outcomes",
    "Add a call outcome (for example an NG reason) to an advertiser's list",
    params=[P_ADVERTISER],
    body={
        "type": "object",
        "required": ["label", "kind"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "maxLength": cw.LABEL_MAX},
            "kind": {"type": "string", "enum": list(cw.OUTCOME_KINDS)},
            "value_yen": _VALUE,
        },
    },
    created="The outcome",
    returns=OUTCOME,
)
async def add_outcome(request: Request, principal: ApiPrincipal) -> Response:
    """Add an outcome at the end of the list (422 for a name already in it)."""
    advertiser = one_advertiser(request, principal)
    data = await read_json_object(request, 1024, fields=("label", "kind", "value_yen"))
    label, kind, value = data.get("label", ""), data.get("kind", ""), data.get("value_yen")
    db = db_of(request)
    async with db.write() as tx:
        if not await tx.fetchval("SELECT id FROM advertisers WHERE id = :a", {"a": advertiser}):
            raise ApiError(404, "not_found", f"No advertiser {advertiser}.")
        outcome_id = await cw.add_outcome(
            tx,
            advertiser_id=advertiser,
            label=label,
            kind=kind,
            now_ms=now_ms(),
            value_yen=value,
        )
    return JSONResponse(
        {"id": outcome_id, "label": label.strip(), "kind": kind, "value_yen": value},
        status_code=201,
    )


@api.patch(
    "/api/outcomes/{outcome_id:int}",
    "Set what an outcome is worth (conversion actions valued by outcome)",
    params=[oa.path_param("outcome_id", oa.ID, "The outcome's id."), P_ADVERTISER],
    body={
        "type": "object",
        "required": ["value_yen"],
        "additionalProperties": False,
        "properties": {"value_yen": _VALUE},
    },
    ok="The outcome",
    returns=OUTCOME,
)
async def patch_outcome(request: Request, principal: ApiPrincipal) -> Response:
    """Set the outcome's value in yen (null clears it); 404 for another advertiser's."""
    advertiser = one_advertiser(request, principal)
    outcome_id = path_id(request, "outcome_id")
    data = await read_json_object(request, 256)
    if set(data) != {"value_yen"}:
        raise ApiError(422, "invalid", "The body takes 'value_yen' only.", field="value_yen")
    db = db_of(request)
    async with db.write() as tx:
        found = await cw.set_outcome_value(
            tx, advertiser_id=advertiser, outcome_id=outcome_id, value_yen=data["value_yen"]
        )
    if not found:
        raise ApiError(404, "not_found", f"No outcome {outcome_id}.")
    row = next(
        r for r in await cw.outcomes(db, advertiser, with_retired=True) if r["id"] == outcome_id
    )
    return JSONResponse(_outcome_out(row))


routes = api.routes
