"""Numbers, pools and source rules over the API (bearer token, scoped to its advertiser).

Every error is JSON ``{"error": {"code", "message", "status", ...}}``: 401 without a valid
token, 404 for records the token cannot see, 422 for bad input (with ``field``, or for
imports ``errors``: ``[{"row", "field", "reason"}]``; nothing is stored then), 413 for
bodies that are too large.

- ``GET  /api/numbers`` ``?site=&kind=&status=&limit=&offset=``: list tracking numbers.
- ``POST /api/numbers``: add one ``{"number", "kind"?, "site", "target"?, "forward_to"?,
  "label"?}`` → 201 ``{"number": {...}}``. Where calls go (``forward_to``, else the target)
  must be a number calls may be forwarded to (:mod:`pool.destinations`), else 422 naming
  the field; so must a new pool's target.
- ``POST /api/numbers/import`` ``?site=``: CSV body (format in docs/numbers.md), all or
  nothing → 201 ``{"imported", "numbers": [...]}``.
- ``GET  /api/numbers/{id}``; ``POST /api/numbers/{id}/retire`` → ``{"id", "status"}``
  ('retiring' while a lease holds it, then 'retired').
- ``GET  /api/pools`` ``?site=``; ``POST /api/pools`` ``{"site", "target", "label"?,
  "ttl_seconds"?, "grace_seconds"?, "cooldown_seconds"?}`` → 201 ``{"pool": {...}}``.
- ``GET  /api/pools/{id}`` (pool and health) and ``GET /api/pools/{id}/health``
  ``?window_hours=`` (health with hourly figures).
- ``GET  /api/pools/policy?site=``; ``PUT /api/pools/policy`` ``{"site",
  "untracked_policy"?: "pool" | "original", "exhausted_policy"?: "overflow" | "original",
  "number_per_visitor"?: bool, "default_target"?: E.164 or ""}`` (docs/snippet.md, "One
  number per target or one per visitor").
- ``GET  /api/rules?site=``; ``POST /api/rules`` ``{"site", "kind", "match_key"?,
  "match_value"?, "action", "number"?, "target"?, "priority"?, "label"?}`` → 201;
  ``DELETE /api/rules/{id}`` → 204.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, path_id
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_body, read_json_object, string_field
from backend.settings import Settings, setting_range
from pool import admin, health, inventory, rules, targets
from pool.imports import MAX_BYTES, decode, read_csv
from pool.inventory import NumberSpec
from pool.store import now_ms

api = Endpoints(tags=["pools"])


def _int(value: Any, name: str, *, low: int, high: int, default: int | None = None) -> int:
    """A bounded integer from a query string or JSON body."""
    if value is None or value == "":
        if default is None:
            raise ApiError(422, "invalid", f"Field {name!r} is required.", field=name)
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(422, "invalid", f"Field {name!r} must be an integer.", field=name)
    try:
        number = int(value)
    except ValueError:
        raise ApiError(422, "invalid", f"Field {name!r} must be an integer.", field=name) from None
    if not low <= number <= high:
        raise ApiError(422, "invalid", f"Field {name!r} must be {low}..{high}.", field=name)
    return number


def _seconds_as_ms(data: dict[str, Any], name: str, settings: Settings, setting: str) -> int:
    """A duration in seconds from a JSON body, as ms: the setting's default and range."""
    low, high = setting_range(setting)
    assert low is not None and high is not None, setting
    default: int = getattr(settings, setting)
    return 1000 * _int(data.get(name), name, low=int(low), high=int(high), default=default)


def _query(request: Request, name: str, max_len: int = 64) -> str:
    value = request.query_params.get(name, "")
    if len(value) > max_len:
        raise ApiError(422, "invalid", f"Parameter {name!r} is too long.", field=name)
    return value


async def _body(request: Request, schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON object sent, with none but the fields of ``schema`` (else 422 naming it)."""
    return await read_json_object(request, fields=oa.properties_of(schema))


_OBJ: dict[str, Any] = {"type": "object"}
_TOO_LARGE = {"$ref": "#/components/responses/Error"}


def _wrapped(key: str, item: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"key": item}`` (an object by default)."""
    return oa.wrapped(key, item or _OBJ)


def _listed(key: str) -> dict[str, Any]:
    return oa.list_of(key, _OBJ)


_SITE_Q = oa.query_param("site", {"type": "string", "maxLength": 64}, "Site key.")
_SITE_REQUIRED = oa.query_param("site", {"type": "string", "maxLength": 64}, required=True)


def _required_site(request: Request) -> str:
    """The ``?site=`` key an endpoint cannot do without; 422 when it is missing."""
    site = _query(request, "site")
    if not site:
        raise ApiError(422, "invalid", "Parameter 'site' is required.", field="site")
    return site


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
_TARGET_ADVERTISER = (
    "The advertiser the target (business number), its pool's numbers and their calls belong"
    " to; null or absent: the site's advertiser. Another advertiser makes the site key shared"
    " by several advertisers (a portal, docs/numbers.md)."
)
_TARGET_ADVERTISER_FIELD = {
    "type": ["integer", "null"],
    "minimum": 1,
    "description": _TARGET_ADVERTISER,
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
        "advertiser_id": _TARGET_ADVERTISER_FIELD,
    },
}
_POOL_PATCH = {
    "type": "object",
    "required": ["advertiser_id"],
    "properties": {
        "advertiser_id": _TARGET_ADVERTISER_FIELD,
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


@api.get(
    "/api/numbers",
    "Tracking numbers the token can see",
    tags=["numbers"],
    params=[
        _SITE_Q,
        oa.query_param("kind", {"type": "string", "maxLength": 64}),
        oa.query_param("status", {"type": "string", "maxLength": 64}),
        oa.query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        oa.query_param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}),
    ],
    ok="Numbers",
    returns=_listed("numbers"),
)
async def list_numbers(request: Request, who: ApiPrincipal) -> Response:
    """Tracking numbers the token can see."""
    q = request.query_params
    found = await admin.list_numbers(
        db_of(request),
        advertiser_id=who.advertiser_id,
        now_ms=now_ms(),
        site_key=_query(request, "site"),
        kind=_query(request, "kind"),
        status=_query(request, "status"),
        limit=_int(q.get("limit"), "limit", low=1, high=1000, default=100),
        offset=_int(q.get("offset"), "offset", low=0, high=10**9, default=0),
    )
    return JSONResponse({"numbers": found})


@api.post(
    "/api/numbers",
    "Add one tracking number",
    tags=["numbers"],
    body=_NUMBER_BODY,
    created="The number",
    returns=_wrapped("number"),
    responses={413: _TOO_LARGE},
)
async def add_number(request: Request, who: ApiPrincipal) -> Response:
    """Add one tracking number."""
    data = await _body(request, _NUMBER_BODY)
    spec = NumberSpec(
        number=string_field(data, "number", max_len=40, required=True),
        kind=string_field(data, "kind", max_len=20) or "pool",
        site=string_field(data, "site", max_len=64, required=True),
        target=string_field(data, "target", max_len=40),
        forward_to=string_field(data, "forward_to", max_len=40),
        label=string_field(data, "label", max_len=200),
    )
    now = now_ms()
    (number_id,) = await inventory.add_numbers(
        db_of(request),
        [spec],
        advertiser_id=who.advertiser_id,
        now_ms=now,
        forward_countries=request.app.state.settings.forward_country_list(),
    )
    view = await admin.get_number(
        db_of(request), number_id=number_id, advertiser_id=who.advertiser_id, now_ms=now
    )
    return JSONResponse({"number": view}, status_code=201)


@api.post(
    "/api/numbers/import",
    "Import a CSV of numbers (all rows or none)",
    tags=["numbers"],
    params=[_SITE_Q],
    body={"type": "string", "description": "CSV, format in docs/numbers.md"},
    body_media="text/csv",
    created="What was imported",
    returns={
        "type": "object",
        "required": ["imported", "numbers"],
        "properties": {
            "imported": {"type": "integer"},
            "numbers": oa.array(_OBJ),
        },
    },
    responses={413: _TOO_LARGE},
)
async def import_numbers(request: Request, who: ApiPrincipal) -> Response:
    """Import a CSV of numbers: every row is stored, or none."""
    text = decode(await read_body(request, MAX_BYTES))
    specs, malformed = read_csv(text, site=_query(request, "site"))
    now = now_ms()
    ids = await inventory.add_numbers(
        db_of(request),
        specs,
        advertiser_id=who.advertiser_id,
        now_ms=now,
        errors=malformed,
        forward_countries=request.app.state.settings.forward_country_list(),
    )
    views = await admin.numbers_by_ids(
        db_of(request), ids, advertiser_id=who.advertiser_id, now_ms=now
    )
    return JSONResponse({"imported": len(ids), "numbers": views}, status_code=201)


@api.get(
    "/api/numbers/{number_id:int}",
    "One tracking number",
    tags=["numbers"],
    ok="The number",
    returns=_wrapped("number"),
)
async def get_number(request: Request, who: ApiPrincipal) -> Response:
    """One tracking number."""
    view = await admin.get_number(
        db_of(request),
        number_id=path_id(request, "number_id"),
        advertiser_id=who.advertiser_id,
        now_ms=now_ms(),
    )
    return JSONResponse({"number": view})


@api.post(
    "/api/numbers/{number_id:int}/retire",
    "Retire a number ('retiring' while a lease holds it, then 'retired')",
    tags=["numbers"],
    ok="The new status",
    returns={
        "type": "object",
        "required": ["id", "status"],
        "properties": {"id": {"type": "integer"}, "status": {"type": "string"}},
    },
)
async def retire_number(request: Request, who: ApiPrincipal) -> Response:
    """Retire a number; it waits for a live lease to end ('retiring') before 'retired'."""
    number_id = path_id(request, "number_id")
    status = await admin.retire(
        db_of(request), number_id=number_id, advertiser_id=who.advertiser_id, now_ms=now_ms()
    )
    return JSONResponse({"id": number_id, "status": status})


@api.get(
    "/api/pools", "Pools the token can see", params=[_SITE_Q], ok="Pools", returns=_listed("pools")
)
async def list_pools(request: Request, who: ApiPrincipal) -> Response:
    """Pools the token can see."""
    found = await admin.list_pools(
        db_of(request), advertiser_id=who.advertiser_id, site_key=_query(request, "site")
    )
    return JSONResponse({"pools": found})


@api.post(
    "/api/pools",
    "Create the pool of a site's business number",
    body=_POOL_BODY,
    created="The pool",
    returns=_wrapped("pool"),
    responses={413: _TOO_LARGE},
)
async def create_pool(request: Request, who: ApiPrincipal) -> Response:
    """Create the pool of a site's business number."""
    data = await _body(request, _POOL_BODY)
    settings = request.app.state.settings
    pool_id = await admin.new_pool(
        db_of(request),
        site_key=string_field(data, "site", max_len=64, required=True),
        target=string_field(data, "target", max_len=40, required=True),
        label=string_field(data, "label", max_len=200),
        ttl_ms=_seconds_as_ms(data, "ttl_seconds", settings, "lease_ttl_seconds"),
        grace_ms=_seconds_as_ms(data, "grace_seconds", settings, "lease_grace_seconds"),
        cooldown_ms=_seconds_as_ms(data, "cooldown_seconds", settings, "lease_cooldown_seconds"),
        advertiser_id=who.advertiser_id,
        now_ms=now_ms(),
        forward_countries=settings.forward_country_list(),
        target_advertiser=_advertiser_field(data),
    )
    return JSONResponse({"pool": await _pool_view(request, who, pool_id)}, status_code=201)


def _policy_fields(site: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The policy's fields (the answer and the PUT body differ only in the text bounds)."""
    return {
        "site": site,
        "untracked_policy": {"type": "string", "enum": list(rules.UNTRACKED_POLICIES)},
        "exhausted_policy": {"type": "string", "enum": list(admin.EXHAUSTED_POLICIES)},
        "number_per_visitor": {"type": "boolean"},
        "default_target": target,
    }


_POLICY: dict[str, Any] = {
    "type": "object",
    "required": ["policy"],
    "properties": {
        "policy": {
            "type": "object",
            "properties": _policy_fields({"type": "string"}, {"type": "string"}),
        }
    },
}

_POLICY_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["site"],
    "properties": _policy_fields(
        {"type": "string", "maxLength": 64}, {"type": "string", "maxLength": 40}
    ),
}


@api.get(
    "/api/pools/policy",
    "A site's untracked and exhausted policies",
    params=[_SITE_REQUIRED],
    ok="The policies",
    returns=_POLICY,
)
async def get_policy(request: Request, who: ApiPrincipal) -> Response:
    """A site's untracked and exhausted policies (``?site=`` required)."""
    site = _required_site(request)
    found = await admin.find_site(db_of(request), site, who.advertiser_id)
    return JSONResponse(
        {
            "policy": {
                "site": site,
                "untracked_policy": found["untracked_policy"],
                "exhausted_policy": found["exhausted_policy"],
                "number_per_visitor": bool(found["number_per_visitor"]),
                "default_target": await admin.target_number(
                    db_of(request), found["default_target_id"]
                ),
            }
        }
    )


@api.put(
    "/api/pools/policy",
    "Change what untracked visits and a full pool show",
    body=_POLICY_BODY,
    ok="The policies now",
    returns=_POLICY,
)
async def put_policy(request: Request, who: ApiPrincipal) -> Response:
    """Change a site's policies: what untracked visits and a full pool show."""
    data = await _body(request, _POLICY_BODY)
    policy = await admin.set_policies(
        db_of(request),
        site_key=string_field(data, "site", max_len=64, required=True),
        advertiser_id=who.advertiser_id,
        untracked_policy=string_field(data, "untracked_policy", max_len=20),
        exhausted_policy=string_field(data, "exhausted_policy", max_len=20),
        number_per_visitor=_bool(data, "number_per_visitor"),
        default_target=(
            string_field(data, "default_target", max_len=40) if "default_target" in data else None
        ),
    )
    return JSONResponse({"policy": policy})


def _bool(data: dict[str, Any], key: str) -> bool | None:
    """An optional true/false field (None: not given); 422 for anything else."""
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise ApiError(422, "invalid", f"Field {key!r} must be true or false.", field=key)
    return value


_POOL_HEALTH_PARAMS = [
    oa.query_param("window_hours", {"type": "integer", "minimum": 1, "maximum": 2160}),
]


async def _pool_view(request: Request, who: ApiPrincipal, pool_id: int) -> dict[str, Any]:
    """The listing of one pool the caller can see (as ``GET /api/pools`` shows it)."""
    (pool,) = [
        p
        for p in await admin.list_pools(db_of(request), advertiser_id=who.advertiser_id)
        if p["id"] == pool_id
    ]
    return pool


async def _health(request: Request, who: ApiPrincipal) -> dict[str, Any]:
    pool = await admin.pool_site(
        db_of(request), pool_id=path_id(request, "pool_id"), advertiser_id=who.advertiser_id
    )
    hours = _int(
        request.query_params.get("window_hours"),
        "window_hours",
        low=1,
        high=24 * 90,
        default=24 * 7,
    )
    settings = request.app.state.settings
    result = await health.pool_health(
        db_of(request),
        pool_id=pool["id"],
        now_ms=now_ms(),
        window_ms=hours * health.HOUR_MS,
        safety=settings.pool_safety_factor,
        alert_at=settings.pool_alert_utilization,
    )
    return result.to_dict()


@api.get(
    "/api/pools/{pool_id:int}",
    "A pool with its health summary",
    params=_POOL_HEALTH_PARAMS,
    ok="The pool and its health",
    returns={
        "type": "object",
        "required": ["pool", "health"],
        "properties": {"pool": _OBJ, "health": _OBJ},
    },
)
async def get_pool(request: Request, who: ApiPrincipal) -> Response:
    """A pool with its health summary."""
    pool_id = path_id(request, "pool_id")
    report = await _health(request, who)
    report.pop("hours")
    return JSONResponse({"pool": await _pool_view(request, who, pool_id), "health": report})


def _advertiser_field(data: dict[str, Any]) -> int | None:
    """The optional ``advertiser_id`` of a target (None: the site's advertiser)."""
    value = data.get("advertiser_id")
    return None if value is None else _int(value, "advertiser_id", low=1, high=2**63 - 1)


@api.patch(
    "/api/pools/{pool_id:int}",
    "Give a pool's target (and its numbers) to another advertiser",
    body=_POOL_PATCH,
    ok="The pool",
    returns=_wrapped("pool"),
    responses={413: _TOO_LARGE},
)
async def patch_pool(request: Request, who: ApiPrincipal) -> Response:
    """Set the advertiser of the pool's target: its numbers and the calls to come are then
    that advertiser's (calls made before keep theirs). Only someone who may manage the site,
    and only to an advertiser the token may see: 404 otherwise."""
    data = await _body(request, _POOL_PATCH)
    if "advertiser_id" not in data:
        raise ApiError(422, "invalid", "Field 'advertiser_id' is required.", field="advertiser_id")
    pool_id = path_id(request, "pool_id")
    await targets.set_advertiser(
        db_of(request),
        pool_id=pool_id,
        advertiser_id=_advertiser_field(data),
        caller=who.advertiser_id,
    )
    return JSONResponse({"pool": await _pool_view(request, who, pool_id)})


@api.get(
    "/api/pools/{pool_id:int}/health",
    "A pool's health: utilization, exhaustions, recommended size, hourly figures",
    params=_POOL_HEALTH_PARAMS,
    ok="The health report",
    returns=_wrapped("health"),
)
async def pool_health(request: Request, who: ApiPrincipal) -> Response:
    """A pool's health: live and peak utilization, exhaustions, recommended size, hours."""
    return JSONResponse({"health": await _health(request, who)})


@api.get(
    "/api/rules",
    "The source rules of a site",
    params=[_SITE_REQUIRED],
    ok="Rules",
    returns=_listed("rules"),
)
async def list_rules(request: Request, who: ApiPrincipal) -> Response:
    """The source rules of a site (``?site=`` required)."""
    site = _required_site(request)
    found = await admin.list_rules(db_of(request), site_key=site, advertiser_id=who.advertiser_id)
    return JSONResponse({"rules": found})


@api.post(
    "/api/rules",
    "Add a source rule to a site",
    body=_RULE_BODY,
    created="The rule's id",
    returns=_wrapped("rule"),
    responses={413: _TOO_LARGE},
)
async def create_rule(request: Request, who: ApiPrincipal) -> Response:
    """Add a source rule to a site."""
    data = await _body(request, _RULE_BODY)
    rule_id = await admin.new_rule(
        db_of(request),
        site_key=string_field(data, "site", max_len=64, required=True),
        advertiser_id=who.advertiser_id,
        kind=string_field(data, "kind", max_len=20, required=True),
        match_key=string_field(data, "match_key", max_len=200),
        match_value=string_field(data, "match_value", max_len=200),
        action=string_field(data, "action", max_len=20, required=True),
        number=string_field(data, "number", max_len=40),
        target=string_field(data, "target", max_len=40),
        priority=_int(
            data.get("priority"), "priority", low=-1_000_000, high=1_000_000, default=100
        ),
        label=string_field(data, "label", max_len=200),
        now_ms=now_ms(),
    )
    return JSONResponse({"rule": {"id": rule_id}}, status_code=201)


@api.delete("/api/rules/{rule_id:int}", "Delete a source rule", no_content="Deleted")
async def delete_rule(request: Request, who: ApiPrincipal) -> Response:
    """Delete a source rule."""
    await admin.delete_rule(
        db_of(request), rule_id=path_id(request, "rule_id"), advertiser_id=who.advertiser_id
    )
    return Response(status_code=204)


routes = api.routes
