"""Ad cost: import the platforms' report downloads, list imports, cost per call and ROAS.

``POST /api/costs/imports`` takes the file as the platform gave it (the body, any
encoding: :mod:`attribution.costs`); ``GET /api/reports/costs`` sets the period's cost
beside its calls (:mod:`attribution.cost_report`), the same numbers as the dashboard's
cost page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import cost_report as cr
from attribution import costs
from attribution import platforms as reg
from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.endpoints import Endpoints
from backend.api.params import (
    MAX_MS,
    P_ADVERTISER,
    P_LIMIT,
    P_MIN_CONFIDENCE,
    RANGE_PARAMS,
    choice_param,
    db_of,
    int_param,
    min_confidence,
    one_advertiser,
    request_scope,
    time_range,
    zone_param,
)
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_body
from pool.store import now_ms

api = Endpoints(tags=["costs"])

_DAY_MS = 86_400_000
_IMPORT_FIELDS = {
    "id": oa.ID,
    "advertiser_id": oa.ID,
    "site_id": oa.NULLABLE_ID,
    "platform": {"type": "string"},
    "filename": {"type": "string"},
    "encoding": {"type": "string"},
    "currency": {"type": "string"},
    "rows": {"type": "integer"},
    "skipped_rows": {"type": "integer"},
    "first_day": {"type": "string"},
    "last_day": {"type": "string"},
    "cost": {"type": "integer", "description": "Whole units of the account's currency."},
    "created_ms": {"type": "integer"},
    "created_by": {"type": "string"},
}
COST_IMPORT = oa.component(
    "CostImport",
    oa.record(_IMPORT_FIELDS),
)
_NINT = {"type": ["integer", "null"]}
_ROW_FIELDS = {
    "source": {"type": "string"},
    "campaign": {"type": "string"},
    "keyword": {"type": "string"},
    "match_type": {"type": "string", "enum": ["", "e", "p", "b"]},
    "impressions": {"type": "integer"},
    "clicks": {"type": "integer"},
    "cost": {"type": "integer"},
    "calls": {"type": "integer"},
    "qualified_calls": {"type": "integer"},
    "cost_per_call": _NINT,
    "cost_per_qualified_call": _NINT,
    "value": {"type": "integer"},
    "roas": {"type": ["number", "null"], "description": "Value over cost, per cent."},
}
COST_ROW = oa.component("CostRow", oa.record(_ROW_FIELDS))
P_PLATFORM = oa.query_param(
    "platform",
    {"type": "string", "maxLength": 20},
    "The ad platform the report comes from (a registry key: google, yahoo, microsoft...).",
    required=True,
)


def platform_param(request: Request) -> str:
    """The ``platform`` parameter, a known platform's key (422 otherwise)."""
    key = request.query_params.get("platform", "")
    try:
        reg.get(key)
    except reg.UnknownPlatform as exc:
        raise ApiError(
            422, "invalid", f"platform must be one of {list(reg.keys())}.", field="platform"
        ) from exc
    return key


@api.post(
    "/api/costs/imports",
    "Import ad cost from a platform's keyword or campaign report download",
    params=[
        P_PLATFORM,
        P_ADVERTISER,
        oa.query_param("site_id", oa.ID, "Only this site's (default: every site)."),
        oa.query_param("filename", {"type": "string", "maxLength": 200}, "Kept with the import."),
    ],
    body={"type": "string", "format": "binary"},
    body_media="text/csv",
    created="The import",
    returns=COST_IMPORT,
    responses={413: {"$ref": "#/components/responses/Error"}},
)
async def import_costs(request: Request, principal: ApiPrincipal) -> Response:
    """Store the file's cost rows (422 listing every bad row; nothing kept then)."""
    platform = platform_param(request)
    advertiser = one_advertiser(request, principal)
    site_id = int_param(request, "site_id")
    body = await read_body(request, costs.MAX_FILE_BYTES)
    try:
        parsed = costs.parse(body)
    except costs.CostFileError as exc:
        errors = [{"row": r, "field": f, "reason": why} for r, f, why in exc.errors]
        raise ApiError(422, "invalid_cost_file", str(exc), errors=errors) from exc
    stored = await cr.import_costs(
        db_of(request),
        parsed,
        advertiser_id=advertiser,
        site_id=site_id,
        platform=platform,
        filename=request.query_params.get("filename", "")[:200],
        by=actor(principal),
        now_ms=now_ms(),
    )
    return JSONResponse(stored.as_json(), status_code=201)


@api.get(
    "/api/costs/imports",
    "Cost imports, newest first",
    params=[P_ADVERTISER, P_LIMIT],
    ok="The imports",
    returns={"type": "object", "properties": {"data": oa.array(COST_IMPORT)}},
)
async def list_imports(request: Request, principal: ApiPrincipal) -> Response:
    """The imports the token may see."""
    limit = int_param(request, "limit", lo=1, hi=500) or 100
    scope = request_scope(request, principal, site_param=None)
    found = await cr.list_imports(db_of(request), scope, limit=limit)
    return JSONResponse({"data": [i.as_json() for i in found]})


@api.get(
    "/api/reports/costs",
    "Cost beside calls: cost per (qualified) call, value and ROAS per source, campaign or keyword",
    tags=["reports", "costs"],
    params=[
        oa.query_param(
            "level",
            {"type": "string", "enum": list(cr.LEVELS), "default": "keyword"},
            "What to group by.",
        ),
        *RANGE_PARAMS,
        P_MIN_CONFIDENCE,
    ],
    ok="One row per key and the total",
    returns={
        "type": "object",
        "required": ["level", "data", "total"],
        "properties": {
            "level": {"type": "string"},
            "data": oa.array(COST_ROW),
            "total": COST_ROW,
        },
    },
)
async def costs_report(request: Request, principal: ApiPrincipal) -> Response:
    """The period's cost beside its calls (default: the last 30 days)."""
    level = choice_param(request, "level", cr.LEVELS, "keyword")
    start, end = time_range(request)
    if "end" not in request.query_params:
        end = now_ms() + 1
    if "start" not in request.query_params:
        start = max(0, end - 30 * _DAY_MS)
    end = max(start, min(end, MAX_MS))
    rows = await cr.cost_report(
        db_of(request),
        request_scope(request, principal),
        start_ms=start,
        end_ms=end,
        zone=zone_param(request),
        level=level,
        confidences=min_confidence(request),
    )
    return JSONResponse(
        {
            "level": level,
            "data": [r.as_json() for r in rows],
            "total": cr.totals(rows).as_json(),
        }
    )


routes = api.routes
