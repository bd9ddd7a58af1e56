"""A site's attribution settings over the API: qualification rules and parameter names.

- ``/api/sites/{id}/qualification``: which completed calls count (talk time, answered,
  first-time caller; :mod:`attribution.qualification`). Anyone whose token sees the site
  may read them; only an administrator's token may change them, because they decide what
  an advertiser is billed for on a pay-per-call portal. New rules apply to calls completed
  from then on; calls already judged keep their verdict.
- ``/api/sites/{id}/tracking-params``: the site's own names for the tracking parameters
  (a site tagging its ads ``?kw=`` instead of ``?utm_term=``), tried before the built-in
  names (:func:`attribution.sources.merge_params`). The ingest pipeline picks a change up
  within a second.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import codes, qualification
from attribution.ingest import set_site_params, site_params
from attribution.sources import DEFAULT_PARAMS, merge_params
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import db_of, path_site_id
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object
from pool.store import now_ms

api = Endpoints(tags=["sites"])

# --- visit codes (任意番号) -------------------------------------------------------------------

VISIT_CODES = oa.component(
    "VisitCodes",
    {
        "type": "object",
        "required": ["enabled"],
        "properties": {
            "enabled": {
                "type": "boolean",
                "description": "Whether the site's pool numbers carry the visit's code in"
                " their tel: links, and its numbers listen for it before the call flow.",
            }
        },
        "additionalProperties": False,
    },
)


@api.get(
    "/api/sites/{site_id:int}/visit-codes",
    "Whether the site gives each visit a code dialled from tel: links",
    ok="The setting",
    returns=VISIT_CODES,
)
async def get_visit_codes(request: Request, principal: ApiPrincipal) -> Response:
    """Whether visit codes are on for the site."""
    site_id = await path_site_id(request, principal)
    db = db_of(request)
    return JSONResponse({"enabled": await codes.site_codes(db, site_id=site_id)})


@api.put(
    "/api/sites/{site_id:int}/visit-codes",
    "Turn visit codes on or off for the site",
    body=VISIT_CODES,
    ok="The stored setting",
    returns=VISIT_CODES,
)
async def put_visit_codes(request: Request, principal: ApiPrincipal) -> Response:
    """Turn visit codes on or off: new snippet answers carry codes from the next second,
    and the voice answer listens for them from the next routing-table refresh."""
    site_id = await path_site_id(request, principal)
    db = db_of(request)
    data = await read_json_object(request, 1024, fields=("enabled",))
    enabled = _checked("enabled", data.get("enabled"), {"enabled": {"type": "boolean"}})
    async with db.write() as tx:
        await codes.set_site_codes(tx, site_id=site_id, enabled=enabled)
    return JSONResponse({"enabled": enabled})


# --- qualification rules -----------------------------------------------------------------

QUALIFICATION_FIELDS: dict[str, dict[str, Any]] = {
    "min_talk_seconds": {"type": "integer", "minimum": 0, "maximum": 86_400},
    "require_answered": {"type": "boolean"},
    "require_first_time": {"type": "boolean"},
    "first_time_days": {
        "type": "integer",
        "minimum": 0,
        "maximum": 3_650,
        "description": "How far back an earlier call makes a caller not new (0: ever).",
    },
}
QUALIFICATION = oa.component(
    "QualificationRules",
    oa.record(QUALIFICATION_FIELDS),
)


def _rules_out(rules: qualification.Rules) -> dict[str, Any]:
    return {
        "min_talk_seconds": rules.min_talk_s,
        "require_answered": rules.require_answered,
        "require_first_time": rules.require_first_time,
        "first_time_days": rules.first_time_days,
    }


def _checked(key: str, value: Any, fields: dict[str, dict[str, Any]]) -> Any:
    """``value`` when it fits the field's schema (type and range), else 422."""
    spec = fields.get(key)
    if spec is None:
        raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)
    if spec["type"] == "boolean":
        if not isinstance(value, bool):
            raise ApiError(422, "invalid", f"Field {key!r} must be true or false.", field=key)
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(422, "invalid", f"Field {key!r} must be an integer.", field=key)
    if not spec["minimum"] <= value <= spec["maximum"]:
        raise ApiError(
            422,
            "invalid",
            f"Field {key!r} must be between {spec['minimum']} and {spec['maximum']}.",
            field=key,
        )
    return value


@api.get(
    "/api/sites/{site_id:int}/qualification",
    "Which of the site's completed calls count as qualified",
    ok="The rules (the defaults when never set)",
    returns=QUALIFICATION,
)
async def get_qualification(request: Request, principal: ApiPrincipal) -> Response:
    """The site's qualification rules."""
    site_id = await path_site_id(request, principal)
    db = db_of(request)
    return JSONResponse(_rules_out(await qualification.rules_for(db, site_id)))


@api.put(
    "/api/sites/{site_id:int}/qualification",
    "Set which of the site's calls count (administrators only)",
    body={
        "type": "object",
        "properties": QUALIFICATION_FIELDS,
        "additionalProperties": False,
        "description": "Missing fields keep their current value.",
    },
    ok="The stored rules",
    returns=QUALIFICATION,
    responses={403: {"$ref": "#/components/responses/Error"}},
)
async def put_qualification(request: Request, principal: ApiPrincipal) -> Response:
    """Change the site's rules; fields left out keep their value. Calls completed from now
    on are judged by them."""
    site_id = await path_site_id(request, principal)
    db = db_of(request)
    if not principal.is_admin:
        raise ApiError(
            403, "forbidden", "Only an administrator's token may change qualification rules."
        )
    data = await read_json_object(request, 4096)
    current = _rules_out(await qualification.rules_for(db, site_id))
    for key, value in data.items():
        current[key] = _checked(key, value, QUALIFICATION_FIELDS)
    rules = qualification.Rules(
        min_talk_s=current["min_talk_seconds"],
        require_answered=current["require_answered"],
        require_first_time=current["require_first_time"],
        first_time_days=current["first_time_days"],
    )
    async with db.write() as tx:
        await qualification.set_rules(tx, site_id=site_id, rules=rules, now_ms=now_ms())
    return JSONResponse(_rules_out(rules))


# --- tracking parameter names ------------------------------------------------------------

PARAM_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,64}$")
MAX_NAMES = 10
_NAMES = {
    "type": "array",
    "items": {"type": "string", "pattern": PARAM_NAME.pattern},
    "maxItems": MAX_NAMES,
}
PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {field: _NAMES for field in DEFAULT_PARAMS},
    "additionalProperties": False,
}
TRACKING_PARAMS = oa.component(
    "TrackingParams",
    {
        "type": "object",
        "required": ["params", "effective"],
        "properties": {
            "params": {**PARAMS_SCHEMA, "description": "The site's own names, per field."},
            "effective": {
                "type": "object",
                "description": "Every name tried, per field, in order: the site's first.",
            },
        },
    },
)


def _params_out(params: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "params": params,
        "effective": {field: list(names) for field, names in merge_params(params).items()},
    }


@api.get(
    "/api/sites/{site_id:int}/tracking-params",
    "The site's own names for tracking parameters, and every name tried",
    ok="The names",
    returns=TRACKING_PARAMS,
)
async def get_tracking_params(request: Request, principal: ApiPrincipal) -> Response:
    """The site's parameter names, and the names tried per field (the site's first)."""
    site_id = await path_site_id(request, principal)
    return JSONResponse(_params_out(await site_params(db_of(request), site_id=site_id)))


@api.put(
    "/api/sites/{site_id:int}/tracking-params",
    "Set the site's own names for tracking parameters",
    body={
        "type": "object",
        "required": ["params"],
        "properties": {"params": PARAMS_SCHEMA},
        "additionalProperties": False,
    },
    ok="The stored names",
    returns=TRACKING_PARAMS,
)
async def put_tracking_params(request: Request, principal: ApiPrincipal) -> Response:
    """Replace the site's own parameter names (an empty object: the built-in names only)."""
    site_id = await path_site_id(request, principal)
    data = await read_json_object(request, 8192)
    unknown = set(data) - {"params"}
    if unknown:
        key = sorted(unknown)[0]
        raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)
    params = data.get("params")
    if not isinstance(params, dict):
        raise ApiError(422, "invalid", "Field 'params' must be an object.", field="params")
    cleaned: dict[str, list[str]] = {}
    for field, names in params.items():
        if field not in DEFAULT_PARAMS:
            raise ApiError(422, "invalid", f"No tracking field {field!r}.", field=f"params.{field}")
        if (
            not isinstance(names, list)
            or len(names) > MAX_NAMES
            or not all(isinstance(n, str) and PARAM_NAME.match(n) for n in names)
        ):
            raise ApiError(
                422,
                "invalid",
                f"params.{field} must be a list of at most {MAX_NAMES} parameter names"
                " (letters, digits, _ . - [ ], up to 64 characters).",
                field=f"params.{field}",
            )
        # Query names are compared in lower case (attribution.sources); duplicates dropped.
        own = list(dict.fromkeys(n.lower() for n in names))
        if own:
            cleaned[field] = own
    await set_site_params(db_of(request), site_id=site_id, params=cleaned, now_ms=now_ms())
    return JSONResponse(_params_out(cleaned))


routes = api.routes
