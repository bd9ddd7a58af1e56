"""Declaring an ``/api`` endpoint once: its OpenAPI operation and its route together.

Each module that serves ``/api`` makes one :class:`Endpoints` and exports its routes::

    api = Endpoints(tags=["things"])

    @api.get("/api/things/{thing_id:int}", "One thing", ok="The thing", returns=THING)
    async def thing(request: Request, principal: ApiPrincipal) -> Response:
        ...  # its docstring is the operation's description

    routes = api.routes

The path is the route's, with its converters (``{thing_id:int}``); the document shows it
without them. Every ``{name}`` of the path is a parameter of the operation: the one given
in ``params`` or the module's ``path_params`` under that name, else an id
(:func:`~backend.api.openapi.path_param`). The handler is routed through
:func:`~backend.api.params.authorized` (token, scope, last use, domain errors as JSON);
``auth=False`` routes it as it is, for the few public endpoints. One ``Route`` per method,
in the order of declaration (the order the app matches them in).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from starlette.routing import Route

from backend.api import openapi as oa
from backend.api.params import authorized

F = TypeVar("F", bound=Callable[..., Any])


class Endpoints:
    """The ``/api`` endpoints of one module; ``routes`` is what the module serves."""

    def __init__(self, *, tags: Sequence[str] = (), path_params: Sequence[oa.Schema] = ()):
        self.tags = list(tags)
        self.path_params = {p["name"]: p for p in path_params}
        self.routes: list[Route] = []

    def get(self, path: str, summary: str, **kwargs: Any) -> Callable[[F], F]:
        """A ``GET`` endpoint (see :meth:`operation`)."""
        return self.operation("GET", path, summary, **kwargs)

    def post(self, path: str, summary: str, **kwargs: Any) -> Callable[[F], F]:
        """A ``POST`` endpoint (see :meth:`operation`)."""
        return self.operation("POST", path, summary, **kwargs)

    def put(self, path: str, summary: str, **kwargs: Any) -> Callable[[F], F]:
        """A ``PUT`` endpoint (see :meth:`operation`)."""
        return self.operation("PUT", path, summary, **kwargs)

    def patch(self, path: str, summary: str, **kwargs: Any) -> Callable[[F], F]:
        """A ``PATCH`` endpoint (see :meth:`operation`)."""
        return self.operation("PATCH", path, summary, **kwargs)

    def delete(self, path: str, summary: str, **kwargs: Any) -> Callable[[F], F]:
        """A ``DELETE`` endpoint (see :meth:`operation`)."""
        return self.operation("DELETE", path, summary, **kwargs)

    def operation(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        ok: str | None = None,
        created: str | None = None,
        no_content: str | None = None,
        returns: oa.Schema | None = None,
        responses: Mapping[int, oa.Schema] | None = None,
        params: Sequence[oa.Schema] = (),
        tags: Sequence[str] | None = None,
        body: oa.Schema | None = None,
        body_media: str = "application/json",
        auth: bool = True,
    ) -> Callable[[F], F]:
        """Declare ``method path`` and route it to the decorated handler.

        ``ok`` (200) or ``created`` (201) describes the JSON answer whose schema is
        ``returns``; ``no_content`` describes a 204; ``responses`` adds any other status
        (or a 200 that is not JSON). ``tags`` replaces the module's.
        """
        answers = dict(responses or {})
        for status, description in ((200, ok), (201, created)):
            if description is not None:
                if returns is None:
                    raise TypeError(f"{method} {path}: {status} needs its schema in returns=")
                answers[status] = oa.json_response(description, returns)
        if no_content is not None:
            answers[204] = oa.empty_response(no_content)

        def wrap(fn: F) -> F:
            oa.declare(
                method,
                oa.openapi_path(path),
                summary=summary,
                description=fn.__doc__ or "",
                responses=answers,
                tags=self.tags if tags is None else tags,
                params=self._parameters(path, params),
                body=body,
                body_media=body_media,
                auth=auth,
            )
            endpoint = authorized(fn) if auth else fn
            self.routes.append(Route(path, endpoint, methods=[method]))
            return fn

        return wrap

    def _parameters(self, path: str, params: Sequence[oa.Schema]) -> list[oa.Schema]:
        """The path's parameters in path order, then the others as given."""
        given = {p["name"]: p for p in params if p["in"] == "path"}
        in_path = [
            given.get(name) or self.path_params.get(name) or oa.path_param(name)
            for name in re.findall(r"\{(\w+)(?::\w+)?\}", path)
        ]
        return [*in_path, *(p for p in params if p["in"] != "path")]
