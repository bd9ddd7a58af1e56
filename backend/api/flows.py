"""Call flows over the API (issue #18): a business number's (target's) flow, its versions.

- ``GET  /api/targets/{id}/flow``: the flow in force with its version (``flow`` null: none).
- ``PUT  /api/targets/{id}/flow`` ``{"flow": {...} | null, "note"?}``: check and store a
  new version (null removes the flow: plain forwarding); 422 names the step and field.
- ``GET  /api/targets/{id}/flow/versions``: every version, newest first (who, when).
- ``GET  /api/targets/{id}/flow/versions/{version}``: one version with its document.
- ``POST /api/targets/{id}/flow/rollback`` ``{"version": n}``: that version in force again,
  stored as a new version.

``?number=`` (one of the advertiser's tracking numbers) or ``?source=`` (a source label)
on the first three names the flow of that number or source instead of the target's own: a
call takes the most specific flow in force (number > source > target).
``GET /api/targets/{id}/flows`` lists the number and source flows in force.

This instance's routing table is reloaded after a change; other instances pick it up at
their next refresh (``CALLPATH_ROUTING_REFRESH_SECONDS``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, path_id
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from backend.telephony import flowdoc, flowstore
from backend.telephony.service import telephony_of

T = TypeVar("T")
api = Endpoints(
    tags=["flows"],
    path_params=[oa.path_param("target_id", description="A business number (target) id")],
)

for _name, _schema in flowdoc.schemas().items():
    oa.component(_name, _schema)
CALL_FLOW = oa.ref("CallFlow")
_VERSION_PROPS: dict[str, Any] = {
    "target_id": {"type": "integer"},
    "number": {"type": "string", "description": "the tracking number's flow ('' : not one)"},
    "source": {"type": "string", "description": "the source's flow ('' : not one)"},
    "version": {"type": "integer"},
    "author": {"type": "string"},
    "note": {"type": "string"},
    "rolled_back_from": {"type": ["integer", "null"]},
    "created_ms": {"type": "integer"},
}
FLOW_VERSION = oa.component(
    "CallFlowVersion",
    {
        "type": "object",
        "required": list(_VERSION_PROPS),
        "properties": {**_VERSION_PROPS, "flow": {"oneOf": [CALL_FLOW, {"type": "null"}]}},
    },
)
VERSION_ENTRY = oa.component(
    "CallFlowVersionEntry",
    oa.record(_VERSION_PROPS),
)
_PUT_BODY = {
    "type": "object",
    "required": ["flow"],
    "properties": {
        "flow": {"oneOf": [CALL_FLOW, {"type": "null"}]},
        "note": {"type": "string", "maxLength": flowstore.MAX_NOTE},
    },
    "additionalProperties": False,
}
_ROLLBACK_BODY = {
    "type": "object",
    "required": ["version"],
    "properties": {"version": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}

_SCOPE = [
    oa.query_param(
        "number",
        {"type": "string", "maxLength": 40},
        "the flow of this tracking number (one of the advertiser's) instead of the target's",
    ),
    oa.query_param(
        "source",
        {"type": "string", "maxLength": flowstore.MAX_SOURCE},
        "the flow of this source (a tracking number's source label) instead of the target's",
    ),
]


def _scope(request: Request) -> dict[str, str]:
    """The ``number`` / ``source`` a request names (checked by the store)."""
    found = {}
    for name in ("number", "source"):
        value = request.query_params.get(name, "")
        if len(value) > 100:
            raise ApiError(422, "invalid", f"{name} is too long.", field=name)
        found[name] = value
    return found


async def _refused(work: Awaitable[T]) -> T:
    """``work``'s result; a flow (or a number, a source) refused is a 422 naming it."""
    try:
        return await work
    except flowdoc.FlowError as exc:
        raise ApiError(422, "invalid", str(exc), field=exc.where) from exc


async def _reload(request: Request) -> None:
    """This instance follows the new flow at once (the others at their refresh)."""
    if getattr(request.app.state, "telephony", None) is not None:  # not on a visits role
        await telephony_of(request).table.load()


@api.get(
    "/api/targets/{target_id:int}/flow",
    "A business number's call flow in force",
    params=_SCOPE,
    ok="The flow and its version",
    returns=FLOW_VERSION,
)
async def get_flow(request: Request, principal: ApiPrincipal) -> Response:
    """The flow in force (``flow`` null and version 0 when the target never had one)."""
    target_id = path_id(request, "target_id")
    scope = _scope(request)
    found = await _refused(flowstore.current(db_of(request), principal.scope, target_id, **scope))
    if found is None:
        empty = dict.fromkeys(("author", "note"), "")
        empty.update(scope)
        found = {"target_id": target_id, "version": 0, **empty, "rolled_back_from": None}
        found.update(created_ms=0, flow=None)
    return JSONResponse(found)


@api.put(
    "/api/targets/{target_id:int}/flow",
    "Set a business number's call flow (a new version)",
    params=_SCOPE,
    body=_PUT_BODY,
    ok="The version stored",
    returns=FLOW_VERSION,
)
async def put_flow(request: Request, principal: ApiPrincipal) -> Response:
    """Check the flow and store it as the target's next version (null: remove the flow).
    A flow that does not check is refused with 422, ``field`` naming the step."""
    target_id = path_id(request, "target_id")
    data = await read_json_object(request, flowdoc.MAX_BYTES + 1024)
    unknown = set(data) - {"flow", "note"}
    if unknown or "flow" not in data:
        key = sorted(unknown)[0] if unknown else "flow"
        raise ApiError(422, "invalid", f"Field {key!r} is unknown or missing.", field=key)
    note = string_field(data, "note", max_len=flowstore.MAX_NOTE)
    db = db_of(request)
    version = await _refused(
        flowstore.save(
            db,
            principal.scope,
            target_id,
            data["flow"],
            author=actor(principal),
            note=note,
            **_scope(request),
        )
    )
    await _reload(request)
    return JSONResponse(await flowstore.version(db, principal.scope, target_id, version))


@api.get(
    "/api/targets/{target_id:int}/flow/versions",
    "Every version of a business number's call flow",
    params=_SCOPE,
    ok="Newest first",
    returns=oa.list_of("versions", VERSION_ENTRY),
)
async def list_versions(request: Request, principal: ApiPrincipal) -> Response:
    """Who changed the flow and when, newest first (documents left out)."""
    target_id = path_id(request, "target_id")
    versions = await _refused(
        flowstore.history(db_of(request), principal.scope, target_id, **_scope(request))
    )
    return JSONResponse({"versions": versions})


@api.get(
    "/api/targets/{target_id:int}/flows",
    "A business number's flows for tracking numbers and sources",
    ok="Numbers first, then sources",
    returns=oa.list_of("flows", VERSION_ENTRY),
)
async def list_scoped(request: Request, principal: ApiPrincipal) -> Response:
    """The flows in force for one tracking number or one source (not the target's own)."""
    target_id = path_id(request, "target_id")
    return JSONResponse(
        {"flows": await flowstore.scoped(db_of(request), principal.scope, target_id)}
    )


@api.get(
    "/api/targets/{target_id:int}/flow/versions/{version:int}",
    "One version of a business number's call flow",
    ok="The version",
    returns=FLOW_VERSION,
)
async def get_version(request: Request, principal: ApiPrincipal) -> Response:
    """One stored version with its document."""
    target_id = path_id(request, "target_id")
    number = path_id(request, "version")
    found = await flowstore.version(db_of(request), principal.scope, target_id, number)
    return JSONResponse(found)


@api.post(
    "/api/targets/{target_id:int}/flow/rollback",
    "Put an earlier version of a call flow back in force",
    body=_ROLLBACK_BODY,
    ok="The new version",
    returns=FLOW_VERSION,
)
async def rollback(request: Request, principal: ApiPrincipal) -> Response:
    """Store version ``version``'s document again as the newest version."""
    target_id = path_id(request, "target_id")
    data = await read_json_object(request, 256)
    number = data.get("version")
    if set(data) != {"version"} or not isinstance(number, int) or isinstance(number, bool):
        raise ApiError(422, "invalid", 'Send {"version": n}.', field="version")
    if not 1 <= number <= 1_000_000:
        raise ApiError(422, "invalid", "No such version.", field="version")
    db = db_of(request)
    version = await flowstore.rollback(
        db, principal.scope, target_id, number, author=actor(principal)
    )
    await _reload(request)
    return JSONResponse(await flowstore.version(db, principal.scope, target_id, version))


routes = api.routes
