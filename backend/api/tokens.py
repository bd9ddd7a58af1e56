"""``/api/tokens``: a user creates, lists and revokes their own API tokens.

A new token can never see more than the token that made it: it is scoped to the same
advertiser (an unscoped administrator's token may pick any advertiser, or none), and may
see caller numbers only when both the user and the calling token may. A read-only token
(``"read_only": true``) may only read; a read-only token cannot make tokens at all (it may
not ``POST``). Whatever a token was given, each request gets only what its user may do at
that moment (:func:`backend.auth.require_token`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend import accounts
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, path_id
from backend.auth import ApiPrincipal, token_digest
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from pool.store import now_ms

api = Endpoints(tags=["tokens"])

TOKEN_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "advertiser_id": {"type": ["integer", "null"]},
    "can_see_callers": {"type": "boolean"},
    "read_only": {"type": "boolean"},
    "can_hear_recordings": {"type": "boolean"},
    "created_ms": {"type": "integer"},
    "revoked_ms": {"type": ["integer", "null"]},
    "last_used_ms": {"type": ["integer", "null"]},
}
TOKEN = oa.component("Token", oa.record(TOKEN_FIELDS))
NEW_TOKEN = oa.component(
    "NewToken",
    {
        "allOf": [
            TOKEN,
            oa.wrapped("token", {"type": "string", "description": "Shown only once."}),
        ]
    },
)
TOKEN_REQUEST = oa.component(
    "TokenRequest",
    {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "advertiser_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**53},
            "can_see_callers": {"type": "boolean", "default": False},
            "read_only": {
                "type": "boolean",
                "default": False,
                "description": "true: the token may only read (GET); any other method is 403.",
            },
            "can_hear_recordings": {
                "type": "boolean",
                "default": False,
                "description": "true: the token may hear and download call recordings "
                "(only from a token that may).",
            },
        },
    },
)
_SELECT = (
    "SELECT id, name, advertiser_id, can_see_callers, read_only, can_hear_recordings,"
    " created_ms, revoked_ms,"
    " last_used_ms"
    " FROM api_tokens"
)


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "can_see_callers": bool(row["can_see_callers"]),
        "read_only": bool(row["read_only"]),
        "can_hear_recordings": bool(row["can_hear_recordings"]),
    }


@api.get(
    "/api/tokens",
    "The calling user's tokens",
    ok="Tokens, newest first",
    returns=oa.data_list(TOKEN),
)
async def list_tokens(request: Request, principal: ApiPrincipal) -> Response:
    """Every token of the user behind the calling token, revoked ones included."""
    rows = await db_of(request).fetchall(
        _SELECT + " WHERE user_id = :u ORDER BY id DESC LIMIT 1000", {"u": principal.user_id}
    )
    return JSONResponse({"data": [_out(r) for r in rows]})


@api.post(
    "/api/tokens",
    "Create a token",
    body=TOKEN_REQUEST,
    created="The new token (the secret is shown only here)",
    returns=NEW_TOKEN,
)
async def create_token(request: Request, principal: ApiPrincipal) -> Response:
    """A new token for the calling user, never wider than the calling token."""
    db = db_of(request)
    data = await read_json_object(request, 4096, fields=oa.properties_of(TOKEN_REQUEST))
    name = string_field(data, "name", max_len=100, required=True).strip()
    if not name:
        raise ApiError(422, "invalid", "Field 'name' must not be empty.", field="name")
    see = data.get("can_see_callers", False)
    if not isinstance(see, bool):
        raise ApiError(422, "invalid", "Field 'can_see_callers' must be a boolean.")
    read_only = data.get("read_only", False)
    if not isinstance(read_only, bool):
        raise ApiError(422, "invalid", "Field 'read_only' must be a boolean.")
    hear = data.get("can_hear_recordings", False)
    if not isinstance(hear, bool):
        raise ApiError(422, "invalid", "Field 'can_hear_recordings' must be a boolean.")
    if hear and not principal.can_hear_recordings:
        raise ApiError(403, "forbidden", "This token may not grant hearing recordings.")
    # The principal is already cut to what the user may do now (advertiser, callers).
    advertiser = _advertiser_for(data, principal)
    if advertiser is not None and not await db.fetchval(
        "SELECT 1 FROM advertisers WHERE id = :a", {"a": advertiser}
    ):
        raise ApiError(422, "invalid", f"No advertiser {advertiser}.", field="advertiser_id")
    if see and not principal.can_see_callers:
        raise ApiError(403, "forbidden", "This token may not grant seeing caller numbers.")
    now = now_ms()
    async with db.write() as tx:
        secret = await accounts.create_api_token(
            tx,
            user_id=principal.user_id,
            advertiser_id=advertiser,
            name=name,
            now_ms=now,
            can_see_callers=see,
            read_only=read_only,
            can_hear_recordings=hear,
        )
        row = await tx.fetchone(_SELECT + " WHERE token_hash = :h", {"h": token_digest(secret)})
    assert row is not None
    return JSONResponse({**_out(row), "token": secret}, status_code=201)


def _advertiser_for(data: dict[str, Any], principal: ApiPrincipal) -> int | None:
    """The advertiser a new token is scoped to: asked for, within what the caller has."""
    limit = principal.advertiser_id
    if "advertiser_id" not in data:
        return limit
    asked = data["advertiser_id"]
    if asked is not None and (
        isinstance(asked, bool) or not isinstance(asked, int) or not 1 <= asked <= 2**53
    ):
        raise ApiError(422, "invalid", "Field 'advertiser_id' must be an id or null.")
    if limit is not None and asked != limit:
        raise ApiError(403, "forbidden", "A token cannot reach beyond its own advertiser.")
    return asked  # type: ignore[no-any-return]


@api.delete(
    "/api/tokens/{token_id:int}", "Revoke a token", no_content="Revoked (revoking twice is fine)"
)
async def revoke_token(request: Request, principal: ApiPrincipal) -> Response:
    """Revoke one of the calling user's tokens; it stops working at once."""
    token_id = path_id(request, "token_id")
    db = db_of(request)
    owner = await db.fetchval("SELECT user_id FROM api_tokens WHERE id = :id", {"id": token_id})
    if owner != principal.user_id:
        raise ApiError(404, "not_found", f"No token {token_id}.")
    await db.execute(
        "UPDATE api_tokens SET revoked_ms = :t WHERE id = :id AND revoked_ms IS NULL",
        {"t": now_ms(), "id": token_id},
    )
    return Response(status_code=204)


routes = api.routes
