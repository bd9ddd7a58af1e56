"""OpenAPI declarations of ``/api`` routes written in other modules.

A module that does not use the :func:`backend.api.openapi.operation` decorator is described
here with :func:`backend.api.openapi.declare`, so that the document covers every ``/api``
route (``tests/api`` fails when one is missing). Only operations the app actually serves
appear in the document, so a declaration made ahead of its route is harmless.

Declared here: ``backend/routes/api_pool.py`` (numbers, pools, source rules).
"""

from __future__ import annotations

from typing import Any

from backend.api import openapi as oa

_OBJ: dict[str, Any] = {"type": "object"}
_TOO_LARGE = {"$ref": "#/components/responses/Error"}


def _wrapped(key: str, item: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"key": item}`` (an object by default)."""
    return {"type": "object", "required": [key], "properties": {key: item or _OBJ}}


def _listed(key: str) -> dict[str, Any]:
    return _wrapped(key, {"type": "array", "items": _OBJ})


_SITE_Q = oa.query_param("site", {"type": "string", "maxLength": 64}, "Site key.")
_DESTINATION = (
    "Where calls go (default: the target): a number of a country CALLPATH_FORWARD_COUNTRIES "
    "allows (default: the site's), never premium-rate, shared-cost, personal-numbering or "
    "satellite (docs/numbers.md); else 422 naming the field."
)
_NUMBER_BODY = {
    "type": "object",
    "required": ["number", "site"],
    "properties": {
        "number": {"type": "string", "maxLength": 40, "description": "E.164 or national"},
        "kind": {"type": "string", "enum": ["pool", "source", "overflow"]},
        "site": {"type": "string", "maxLength": 64},
        "target": {"type": "string", "maxLength": 40},
        "forward_to": {"type": "string", "maxLength": 40, "description": _DESTINATION},
        "label": {"type": "string", "maxLength": 200},
    },
}
_POOL_BODY = {
    "type": "object",
    "required": ["site", "target"],
    "properties": {
        "site": {"type": "string", "maxLength": 64},
        "target": {"type": "string", "maxLength": 40, "description": _DESTINATION},
        "label": {"type": "string", "maxLength": 200},
        "ttl_seconds": {"type": "integer", "minimum": 60, "maximum": 86_400},
        "grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604_800},
        "cooldown_seconds": {"type": "integer", "minimum": 0, "maximum": 604_800},
    },
}
_RULE_BODY = {
    "type": "object",
    "required": ["site", "kind", "action"],
    "properties": {
        "site": {"type": "string", "maxLength": 64},
        "kind": {"type": "string", "enum": ["param", "referrer", "source"]},
        "match_key": {"type": "string", "maxLength": 200},
        "match_value": {"type": "string", "maxLength": 200},
        "action": {"type": "string", "enum": ["number", "pool", "original"]},
        "number": {"type": "string", "maxLength": 40},
        "target": {"type": "string", "maxLength": 40},
        "priority": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000},
        "label": {"type": "string", "maxLength": 200},
    },
}

oa.declare(
    "GET",
    "/api/numbers",
    summary="Tracking numbers the token can see",
    tags=["numbers"],
    params=[
        _SITE_Q,
        oa.query_param("kind", {"type": "string", "maxLength": 64}),
        oa.query_param("status", {"type": "string", "maxLength": 64}),
        oa.query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        oa.query_param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}),
    ],
    responses={200: oa.json_response("Numbers", _listed("numbers"))},
)
oa.declare(
    "POST",
    "/api/numbers",
    summary="Add one tracking number",
    tags=["numbers"],
    body=_NUMBER_BODY,
    responses={201: oa.json_response("The number", _wrapped("number")), 413: _TOO_LARGE},
)
oa.declare(
    "POST",
    "/api/numbers/import",
    summary="Import a CSV of numbers (all rows or none)",
    tags=["numbers"],
    params=[_SITE_Q],
    body={"type": "string", "description": "CSV, format in docs/numbers.md"},
    body_media="text/csv",
    responses={
        201: oa.json_response(
            "What was imported",
            {
                "type": "object",
                "required": ["imported", "numbers"],
                "properties": {
                    "imported": {"type": "integer"},
                    "numbers": {"type": "array", "items": _OBJ},
                },
            },
        ),
        413: _TOO_LARGE,
    },
)
oa.declare(
    "GET",
    "/api/numbers/{number_id}",
    summary="One tracking number",
    tags=["numbers"],
    params=[oa.path_param("number_id")],
    responses={200: oa.json_response("The number", _wrapped("number"))},
)
oa.declare(
    "POST",
    "/api/numbers/{number_id}/retire",
    summary="Retire a number ('retiring' while a lease holds it, then 'retired')",
    tags=["numbers"],
    params=[oa.path_param("number_id")],
    responses={
        200: oa.json_response(
            "The new status",
            {
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": {"type": "integer"}, "status": {"type": "string"}},
            },
        )
    },
)
oa.declare(
    "GET",
    "/api/pools",
    summary="Pools the token can see",
    tags=["pools"],
    params=[_SITE_Q],
    responses={200: oa.json_response("Pools", _listed("pools"))},
)
oa.declare(
    "POST",
    "/api/pools",
    summary="Create the pool of a site's business number",
    tags=["pools"],
    body=_POOL_BODY,
    responses={201: oa.json_response("The pool", _wrapped("pool")), 413: _TOO_LARGE},
)
oa.declare(
    "GET",
    "/api/pools/{pool_id}",
    summary="A pool with its health summary",
    tags=["pools"],
    params=[
        oa.path_param("pool_id"),
        oa.query_param("window_hours", {"type": "integer", "minimum": 1, "maximum": 2160}),
    ],
    responses={
        200: oa.json_response(
            "The pool and its health",
            {
                "type": "object",
                "required": ["pool", "health"],
                "properties": {"pool": _OBJ, "health": _OBJ},
            },
        )
    },
)
oa.declare(
    "GET",
    "/api/pools/{pool_id}/health",
    summary="A pool's health: utilization, exhaustions, recommended size, hourly figures",
    tags=["pools"],
    params=[
        oa.path_param("pool_id"),
        oa.query_param("window_hours", {"type": "integer", "minimum": 1, "maximum": 2160}),
    ],
    responses={200: oa.json_response("The health report", _wrapped("health"))},
)
oa.declare(
    "GET",
    "/api/rules",
    summary="The source rules of a site",
    tags=["pools"],
    params=[oa.query_param("site", {"type": "string", "maxLength": 64}, required=True)],
    responses={200: oa.json_response("Rules", _listed("rules"))},
)
oa.declare(
    "POST",
    "/api/rules",
    summary="Add a source rule to a site",
    tags=["pools"],
    body=_RULE_BODY,
    responses={201: oa.json_response("The rule's id", _wrapped("rule")), 413: _TOO_LARGE},
)
oa.declare(
    "DELETE",
    "/api/rules/{rule_id}",
    summary="Delete a source rule",
    tags=["pools"],
    params=[oa.path_param("rule_id")],
    responses={204: oa.empty_response("Deleted")},
)
