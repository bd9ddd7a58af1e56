"""``/api/billing/disputes`` and ``/api/calls/{id}/disputes``: disputes of billed calls and
the billing audit trail through the API (issue #20).

A member's token disputes its own advertiser's calls and sees its own disputes and audit
lines; an administrator's token decides disputes (accepted: the call is not billed, the
reason kept; rejected: with a note). See :mod:`attribution.billing.disputes`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution.billing import disputes as dp
from attribution.billing.money import BillingError
from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.billing import admin_only, invalid
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, path_id
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object
from pool.store import now_ms

api = Endpoints(tags=["billing"])

_OBJ = {"type": "object"}

DISPUTE = oa.component(
    "Dispute",
    {
        "type": "object",
        "required": ["id", "advertiser_id", "call_id", "status", "reason"],
        "properties": {
            "id": {"type": "integer"},
            "advertiser_id": {"type": "integer"},
            "call_id": {"type": "integer"},
            "status": {"type": "string", "enum": list(dp.STATUSES)},
            "reason": {"type": "string"},
            "note": {"type": "string"},
            "opened_by": {"type": "string"},
            "opened_ms": {"type": "integer"},
            "decided_by": {"type": "string"},
            "decided_ms": {"type": ["integer", "null"]},
        },
    },
)
_DISPUTE_FIELDS = ("id", "advertiser_id", "call_id", "status", "reason", "note", "opened_by",
                   "opened_ms", "decided_by", "decided_ms")  # fmt: skip


@api.get(
    "/api/billing/disputes",
    "Disputes the token may see, newest first",
    params=[oa.query_param("status", {"type": "string", "enum": list(dp.STATUSES)})],
    ok="Disputes",
    returns=oa.data_list(DISPUTE),
)
async def list_disputes(request: Request, principal: ApiPrincipal) -> Response:
    """Open, accepted and rejected disputes (``status`` for one of them)."""
    status = request.query_params.get("status")
    if status is not None and status not in dp.STATUSES:
        raise ApiError(422, "invalid", "Unknown status.", field="status")
    rows = await dp.disputes(db_of(request), principal.scope, status=status)
    return JSONResponse({"data": [{k: r[k] for k in _DISPUTE_FIELDS} for r in rows]})


@api.post(
    "/api/calls/{call_id:int}/disputes",
    "Dispute a billed call, with the reason",
    body={
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": dp.REASON_MAX}},
    },
    created="The dispute",
    returns=DISPUTE,
)
async def open_dispute(request: Request, principal: ApiPrincipal) -> Response:
    """Open a dispute of a call of the token's advertiser (422 when one is open)."""
    call_id = path_id(request, "call_id")
    where, params = principal.scope.and_condition("c")
    db = db_of(request)
    if (
        await db.fetchval(
            "SELECT c.id FROM calls c WHERE c.id = :id" + where, {**params, "id": call_id}
        )
        is None
    ):
        raise ApiError(404, "not_found", f"No call {call_id}.")
    data = await read_json_object(request, 4096, fields=("reason",))
    try:
        async with db.write() as tx:
            dispute_id = await dp.open_dispute(
                tx, call_id=call_id, reason=data.get("reason", ""), actor=actor(principal),
                now_ms=now_ms(),
            )  # fmt: skip
    except BillingError as exc:
        raise invalid(exc) from exc
    row = (await dp.disputes(db, principal.scope, call_id=call_id))[0]
    assert row["id"] == dispute_id
    return JSONResponse({k: row[k] for k in _DISPUTE_FIELDS}, status_code=201)


@api.post(
    "/api/billing/disputes/{dispute_id:int}/decision",
    "Accept or reject a dispute (administrators)",
    body={
        "type": "object",
        "required": ["decision"],
        "additionalProperties": False,
        "properties": {
            "decision": {"type": "string", "enum": list(dp.DECISIONS)},
            "note": {"type": "string", "maxLength": dp.NOTE_MAX},
        },
    },
    ok="The dispute",
    returns=DISPUTE,
)
async def decide_dispute(request: Request, principal: ApiPrincipal) -> Response:
    """Accepted: the call stops being billable (the reason kept); rejected: a note says why."""
    admin_only(principal)
    dispute_id = path_id(request, "dispute_id")
    data = await read_json_object(request, 4096, fields=("decision", "note"))
    db = db_of(request)
    try:
        async with db.write() as tx:
            await dp.decide(
                tx, dispute_id=dispute_id, decision=data.get("decision", ""),
                note=data.get("note", ""), actor=actor(principal), now_ms=now_ms(),
            )  # fmt: skip
    except BillingError as exc:
        raise invalid(exc) from exc
    row = next(r for r in await dp.disputes(db, principal.scope) if r["id"] == dispute_id)
    return JSONResponse({k: row[k] for k in _DISPUTE_FIELDS})


@api.get(
    "/api/billing/audit",
    "The billing audit trail: plans, disputes and statements, newest first",
    ok="Entries",
    returns=oa.data_list(_OBJ),
)
async def list_audit(request: Request, principal: ApiPrincipal) -> Response:
    """Who added plans, opened and decided disputes, closed and sent statements."""
    rows = await dp.audit_trail(db_of(request), principal.scope)
    return JSONResponse({"data": [dict(r) for r in rows]})


routes = api.routes
