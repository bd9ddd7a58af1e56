"""Fixed codes (任意番号 for offline media) over the API, managed with the source number
that carries them.

- ``GET    /api/numbers/{id}/codes``: the number's fixed codes.
- ``POST   /api/numbers/{id}/codes`` ``{"code", "source_label"?, "campaign"?}`` → 201
  ``{"code": {...}}``; 422 for digits that are not 1–6 digits, a number that is not a
  source number, a code already given there or of another length than its others.
- ``DELETE /api/numbers/{id}/codes/{code_id}`` → 204 (calls already made keep their
  source).

A call to the number followed by a fixed code is matched ``code`` and credited to the
code's source label and campaign (docs/attribution.md#visit-codes).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import codes
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, path_id
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from pool.store import Store, now_ms

api = Endpoints(tags=["numbers"])

FIXED_CODE = oa.component(
    "FixedCode",
    {
        "type": "object",
        "required": ["id", "number_id", "number", "code", "source_label", "campaign"],
        "properties": {
            "id": {"type": "integer"},
            "number_id": {"type": "integer"},
            "number": {"type": "string"},
            "code": {"type": "string", "pattern": "^[0-9]{1,6}$"},
            "source_label": {"type": "string"},
            "campaign": {"type": "string"},
            "created_ms": {"type": "integer"},
        },
    },
)
_BODY = {
    "type": "object",
    "required": ["code"],
    "properties": {
        "code": {"type": "string", "pattern": "^[0-9]{1,6}$"},
        "source_label": {"type": "string", "maxLength": 100},
        "campaign": {"type": "string", "maxLength": 200},
    },
    "additionalProperties": False,
}


async def _number_in_scope(db: Store, principal: ApiPrincipal, number_id: int) -> None:
    """404 unless the token sees the number."""
    row = await db.fetchone(
        "SELECT advertiser_id FROM tracking_numbers WHERE id = :n", {"n": number_id}
    )
    if row is None or (
        principal.advertiser_id is not None and row["advertiser_id"] != principal.advertiser_id
    ):
        raise ApiError(404, "not_found", "No such number.")


async def _path_number(request: Request, principal: ApiPrincipal) -> int:
    """The ``{number_id}`` of the path, once :func:`_number_in_scope` has found it visible."""
    number_id = path_id(request, "number_id")
    await _number_in_scope(db_of(request), principal, number_id)
    return number_id


@api.get(
    "/api/numbers/{number_id:int}/codes",
    "The fixed codes given to offline media on a source number",
    ok="The codes",
    returns=oa.list_of("codes", FIXED_CODE),
)
async def list_codes(request: Request, principal: ApiPrincipal) -> Response:
    """The number's fixed codes."""
    number_id = await _path_number(request, principal)
    return JSONResponse({"codes": await codes.list_fixed(db_of(request), number_id=number_id)})


@api.post(
    "/api/numbers/{number_id:int}/codes",
    "Give a fixed code on a source number to an offline medium",
    body=_BODY,
    created="The code",
    returns=oa.wrapped("code", FIXED_CODE),
)
async def add_code(request: Request, principal: ApiPrincipal) -> Response:
    """Give a code (flyer A = 11, the radio = 12) on the number; the routing table listens
    for it from its next refresh."""
    number_id = await _path_number(request, principal)
    db = db_of(request)
    data: dict[str, Any] = await read_json_object(request, 2048)
    unknown = set(data) - set(_BODY["properties"])  # type: ignore[arg-type]
    if unknown:
        key = sorted(unknown)[0]
        raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)
    code = string_field(data, "code", max_len=6, required=True)
    label = string_field(data, "source_label", max_len=100)
    campaign = string_field(data, "campaign", max_len=200)
    try:
        async with db.write() as tx:
            made = await codes.add_fixed(
                tx,
                number_id=number_id,
                code=code,
                source_label=label,
                campaign=campaign,
                now_ms=now_ms(),
            )
    except codes.CodeError as exc:
        raise ApiError(422, "invalid", str(exc), field="code") from exc
    return JSONResponse({"code": made}, status_code=201)


@api.delete(
    "/api/numbers/{number_id:int}/codes/{code_id:int}",
    "Take a fixed code back",
    no_content="Deleted",
)
async def delete_code(request: Request, principal: ApiPrincipal) -> Response:
    """Delete one of the number's fixed codes (404 when it has no such code)."""
    number_id = path_id(request, "number_id")
    code_id = path_id(request, "code_id")
    db = db_of(request)
    await _number_in_scope(db, principal, number_id)
    async with db.write() as tx:
        owned = await tx.fetchval(
            "SELECT 1 FROM fixed_codes WHERE id = :id AND number_id = :n",
            {"id": code_id, "n": number_id},
        )
        if not owned:
            raise ApiError(404, "not_found", "No such code on this number.")
        await codes.delete_fixed(tx, code_id=code_id)
    return Response(status_code=204)


routes = api.routes
