"""The OpenAPI 3.1 document of ``/api``, built from what each route declares.

A route joins the document by declaring its operation next to its handler, with
:class:`backend.api.endpoints.Endpoints` (which makes the route too, see
docs/contributing.md) or, the older way, with :func:`operation`::

    @oa.operation("GET", "/api/things/{thing_id}", summary="One thing", tags=["things"],
                  params=[oa.path_param("thing_id")],
                  responses={200: oa.json_response("The thing", oa.ref("Thing"))})
    async def thing(request): ...

:func:`declare` is the same without a decorator. Component
schemas are added with :func:`component`. Every operation with ``auth=True`` (the default)
gets the bearer security requirement and the error responses every ``/api`` route can give
(400, 401, 403, 404, 422 with the one JSON error shape). A test checks that every ``/api``
route of the app is in the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

Schema = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

_OPERATIONS: dict[tuple[str, str], Operation] = {}
_COMPONENTS: dict[str, Schema] = {}

ERROR_STATUSES = (400, 401, 403, 404, 422)


@dataclass(frozen=True)
class Operation:
    """One method on one path."""

    method: str
    path: str
    summary: str
    tags: tuple[str, ...] = ()
    params: tuple[Schema, ...] = ()
    body: Schema | None = None
    responses: Mapping[int, Schema] = field(default_factory=dict)
    auth: bool = True
    description: str = ""
    body_media: str = "application/json"

    def render(self) -> Schema:
        op: Schema = {
            "summary": self.summary,
            "operationId": _operation_id(self.method, self.path),
            "responses": {},
        }
        if self.description:
            op["description"] = self.description
        if self.tags:
            op["tags"] = list(self.tags)
        if self.params:
            op["parameters"] = list(self.params)
        if self.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {self.body_media: {"schema": self.body}},
            }
        responses: dict[str, Schema] = {str(k): v for k, v in sorted(self.responses.items())}
        if self.auth:
            op["security"] = [{"bearer": []}]
            for status in ERROR_STATUSES:
                responses.setdefault(str(status), {"$ref": "#/components/responses/Error"})
        op["responses"] = responses
        return op


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path.removeprefix("/api"))
    return method.lower() + "".join(w.capitalize() for w in words)


def declare(
    method: str,
    path: str,
    *,
    summary: str,
    responses: Mapping[int, Schema],
    tags: Sequence[str] = (),
    params: Sequence[Schema] = (),
    body: Schema | None = None,
    auth: bool = True,
    description: str = "",
    body_media: str = "application/json",
) -> Operation:
    """Add an operation to the document (a later declaration of the same one replaces it)."""
    op = Operation(
        method.upper(),
        path,
        summary,
        tuple(tags),
        tuple(params),
        body,
        dict(responses),
        auth,
        description,
        body_media,
    )
    _OPERATIONS[(op.method, op.path)] = op
    return op


def operation(method: str, path: str, **kwargs: Any) -> Callable[[F], F]:
    """Decorator form of :func:`declare` for a route handler."""

    def wrap(fn: F) -> F:
        declare(method, path, description=kwargs.pop("description", fn.__doc__ or ""), **kwargs)
        return fn

    return wrap


def component(name: str, schema: Schema) -> Schema:
    """Register a named schema; returns a ``$ref`` to it."""
    _COMPONENTS[name] = schema
    return ref(name)


def properties_of(schema: Schema) -> dict[str, Schema]:
    """The properties of an object schema, or of the component a ``$ref`` names: the fields
    a JSON body may have (:func:`backend.http.only_fields`)."""
    if "$ref" in schema:
        schema = _COMPONENTS[schema["$ref"].rsplit("/", 1)[1]]
    return dict(schema["properties"])


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def query_param(
    name: str, schema: Schema, description: str = "", *, required: bool = False
) -> Schema:
    """A query parameter."""
    p: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        p["description"] = description
    return p


def path_param(name: str, schema: Schema | None = None, description: str = "") -> Schema:
    """A path parameter (an id by default)."""
    p: Schema = {"name": name, "in": "path", "required": True, "schema": schema or ID}
    if description:
        p["description"] = description
    return p


def wrapped(key: str, item: Schema) -> Schema:
    """An object with the one required field ``key`` holding ``item`` (``{"key": item}``)."""
    return {"type": "object", "required": [key], "properties": {key: item}}


def record(fields: Mapping[str, Any]) -> Schema:
    """An object with every one of ``fields`` required."""
    return {"type": "object", "required": list(fields), "properties": fields}


def array(item: Schema) -> Schema:
    """A list of ``item``."""
    return {"type": "array", "items": item}


def list_of(key: str, item: Schema) -> Schema:
    """An object with the one required list ``key`` of ``item`` (``{"key": [item, ...]}``)."""
    return wrapped(key, array(item))


def rows_response(description: str, row: Schema) -> Schema:
    """A report's response: the ``dimension`` grouped by and one ``row`` per key in ``data``."""
    body = {"dimension": {"type": "string"}, "data": array(row)}
    return json_response(
        description, {"type": "object", "required": ["dimension", "data"], "properties": body}
    )


def data_list(item: Schema) -> Schema:
    """A list answer: ``{"data": [item, ...]}``."""
    return list_of("data", item)


def json_response(description: str, schema: Schema) -> Schema:
    """A JSON response."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def file_response(description: str, media_types: Sequence[str]) -> Schema:
    """A file (CSV, NDJSON…) response."""
    return {
        "description": description,
        "content": {m: {"schema": {"type": "string"}} for m in media_types},
    }


def empty_response(description: str) -> Schema:
    """A response without a body."""
    return {"description": description}


ID: Schema = {"type": "integer", "minimum": 1, "maximum": 2**53}
NULLABLE_ID: Schema = {"type": ["integer", "null"]}

ERROR = component(
    "Error",
    {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "status": {"type": "integer"},
                },
            }
        },
    },
)


def operations() -> list[Operation]:
    """Every declared operation."""
    return list(_OPERATIONS.values())


def document(
    *,
    served: set[tuple[str, str]] | None = None,
    title: str = "callpath API",
    version: str = "1",
) -> Schema:
    """The OpenAPI 3.1 document; with ``served``, only those (METHOD, path) operations."""
    paths: dict[str, dict[str, Schema]] = {}
    for op in sorted(_OPERATIONS.values(), key=lambda o: (o.path, o.method)):
        if served is not None and (op.method, op.path) not in served:
            continue
        paths.setdefault(op.path, {})[op.method.lower()] = op.render()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Calls, sessions, reports, numbers, pools and exports of callpath. "
            "Authenticate with `Authorization: Bearer TOKEN` (create tokens at /api/tokens). "
            "A token does no more than its user may do at the time of each request; a "
            "read-only token gets 403 on every method but GET.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(_COMPONENTS.items())),
            "responses": {"Error": json_response("An error", ERROR)},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def served_operations(routes: Sequence[Any]) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every route of an app (``Route`` objects with methods)."""
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if path is not None and method != "HEAD":
                found.add((method, openapi_path(path)))
    return found


def openapi_path(starlette_path: str) -> str:
    """A Starlette route path in OpenAPI form (``{id:int}`` → ``{id}``)."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", starlette_path)
