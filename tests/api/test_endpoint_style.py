"""Every ``/api`` endpoint is written the one way (docs/contributing.md, issue #24).

Generated from the app's route table: a route added in any module is checked.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from backend.api import openapi
from backend.api.params import authorized
from backend.auth import ApiPrincipal


async def _handler(request: object, principal: ApiPrincipal) -> object:
    raise AssertionError("never called")


WRAPPER = authorized(_handler).__code__  # type: ignore[arg-type]


def _api_routes(app: Starlette) -> list[Route]:
    return [r for r in app.routes if isinstance(r, Route) and r.path.startswith("/api")]


async def test_every_api_route_goes_through_the_one_wrapper_or_is_declared_public(
    app: Starlette,
) -> None:
    declared = {(op.method, op.path): op for op in openapi.operations()}
    routes = _api_routes(app)
    assert len(routes) > 25
    wrong = []
    for route in routes:
        wrapped = getattr(route.endpoint, "__code__", None) is WRAPPER
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op = declared.get((method, openapi.openapi_path(route.path)))
            if op is None:
                wrong.append(f"{method} {route.path}: not declared (api.get/… or @oa.operation)")
            elif op.auth != wrapped:
                # A token route not wrapped would skip the token checks and scope; a public
                # one declared with auth would promise a security it does not have.
                wrong.append(f"{method} {route.path}: auth={op.auth}, wrapped={wrapped}")
    assert not wrong, wrong


async def test_the_wrapped_handler_is_the_declared_one(app: Starlette) -> None:
    # @oa.operation takes the handler's docstring as the operation's description, so the
    # document describes the handler the route actually runs.
    for route in _api_routes(app):
        inner = getattr(route.endpoint, "__wrapped__", None)
        if inner is None:
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            ops = [
                op
                for op in openapi.operations()
                if (op.method, op.path) == (method, openapi.openapi_path(route.path))
            ]
            assert ops and ops[0].description == (inner.__doc__ or ""), (method, route.path)
