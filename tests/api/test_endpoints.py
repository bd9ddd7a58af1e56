"""One declaration per ``/api`` endpoint (backend/api/endpoints.py, issue #24): it makes
both the route and the OpenAPI operation, and ``authorized`` answers domain errors."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from attribution.errors import FieldError
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.auth import ApiPrincipal
from tests.api.conftest import World


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Declarations made here stay out of the app's document."""
    monkeypatch.setattr(oa, "_OPERATIONS", {})


def test_the_route_keeps_its_converters_and_the_operation_takes_the_path_parameters() -> None:
    api = Endpoints(
        tags=["things"], path_params=[oa.path_param("thing_id", description="A thing's id.")]
    )
    query = oa.query_param("q", {"type": "string"})

    @api.delete("/api/t/{thing_id:int}/p/{part_id:int}", "Drop", params=[query], no_content="Gone")
    async def drop(request: Request, principal: ApiPrincipal) -> Response:
        """Drop the part of the thing."""
        raise AssertionError("not called")

    (route,) = api.routes
    assert route.path == "/api/t/{thing_id:int}/p/{part_id:int}"
    assert route.methods == {"DELETE"}
    assert route.endpoint.__wrapped__ is drop  # type: ignore[attr-defined]  # authorized
    (op,) = oa.operations()
    assert (op.method, op.path) == ("DELETE", "/api/t/{thing_id}/p/{part_id}")
    # Path parameters first, in path order (the module's, else an id), then the others.
    assert list(op.params) == [
        oa.path_param("thing_id", description="A thing's id."),
        oa.path_param("part_id"),
        query,
    ]
    assert op.responses == {204: {"description": "Gone"}}
    assert op.tags == ("things",) and op.description == "Drop the part of the thing."
    assert op.render()["security"] == [{"bearer": []}]


def test_ok_and_created_need_their_schema_and_a_public_route_is_not_wrapped() -> None:
    api = Endpoints(tags=["meta"])
    with pytest.raises(TypeError, match="returns="):
        api.get("/api/x", "X", ok="The x")
    with pytest.raises(TypeError, match="returns="):
        api.post("/api/x", "X", created="The x")

    @api.post("/api/x", "X", tags=["other"], created="Made", returns={"type": "object"}, auth=False)
    async def make(request: Request) -> Response:
        return Response(status_code=201)

    (route,) = api.routes
    assert route.endpoint is make
    (op,) = oa.operations()
    assert op.tags == ("other",) and not op.auth and "security" not in op.render()
    assert op.responses == {201: oa.json_response("Made", {"type": "object"})}


async def test_a_refused_value_is_422_naming_its_field(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    # Any FieldError a domain package raises reaches the caller as 422 with its field,
    # wherever in the handler it is raised (never a 500).
    api = Endpoints(tags=["things"])

    @api.post("/api/refusing", "Refuse", ok="Never", returns={"type": "object"})
    async def refuse(request: Request, principal: ApiPrincipal) -> Response:
        raise FieldError("colour", "no such colour")

    app.router.routes[:0] = api.routes
    r = await client.post("/api/refusing", headers=world.auth())
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "invalid",
        "message": "no such colour",
        "status": 422,
        "field": "colour",
    }
    assert (await client.post("/api/refusing")).status_code == 401
