"""``/api/reports/calls``: sessions, calls and qualified calls by one dimension.

The numbers come from ``attribution.reports.calls_report`` (the dashboard's reports), so the
API and the dashboard always agree.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from attribution import reports
from backend.api import openapi as oa
from backend.api.params import (
    MAX_MS,
    P_MIN_CONFIDENCE,
    RANGE_PARAMS,
    authorized,
    choice_param,
    db_of,
    min_confidence,
    request_scope,
    time_range,
)
from backend.auth import ApiPrincipal
from pool.store import now_ms

DIMENSIONS = tuple(reports.DIMENSIONS)

REPORT_ROW = oa.component(
    "ReportRow",
    {
        "type": "object",
        "required": list(reports.ROW_COLUMNS),
        "properties": {
            "key": {"type": "string"},
            "sessions": {"type": "integer"},
            "calls": {"type": "integer"},
            "qualified_calls": {"type": "integer"},
            "first_time_callers": {"type": "integer"},
            "conversion_rate": {"type": "number"},
            "no_session": {
                "type": "boolean",
                "description": 'The row of calls without a web session (key ""): every'
                " row's calls add up to the call log's count for the same scope and range.",
            },
        },
    },
)

_DAY_MS = 86_400_000


@oa.operation(
    "GET",
    "/api/reports/calls",
    summary="Calls by channel, source, campaign, ad group, keyword, landing page or device",
    tags=["reports"],
    params=[
        oa.query_param(
            "dimension",
            {"type": "string", "enum": list(DIMENSIONS), "default": "source"},
            "What to group by.",
        ),
        *RANGE_PARAMS,
        P_MIN_CONFIDENCE,
    ],
    responses={
        200: oa.json_response(
            "One row per value of the dimension",
            {
                "type": "object",
                "required": ["dimension", "data"],
                "properties": {
                    "dimension": {"type": "string"},
                    "data": {"type": "array", "items": REPORT_ROW},
                },
            },
        )
    },
)
async def calls_report(request: Request, principal: ApiPrincipal) -> Response:
    """Calls by dimension over a period (default: the last 30 days)."""
    dimension = choice_param(request, "dimension", DIMENSIONS, "source")
    start, end = time_range(request)
    if "end" not in request.query_params:
        end = now_ms() + 1
    if "start" not in request.query_params:
        start = max(0, end - 30 * _DAY_MS)
    end = min(end, MAX_MS)
    scope = request_scope(request, principal)
    rows = await reports.calls_report(
        db_of(request),
        advertiser_id=scope.advertiser_id,
        site_id=scope.site_id,
        start_ms=start,
        end_ms=max(start, end),
        dimension=dimension,
        confidences=min_confidence(request),
    )
    data = [
        {
            "key": str(r["key"]),
            "sessions": int(r["sessions"]),
            "calls": int(r["calls"]),
            "qualified_calls": int(r["qualified_calls"]),
            "first_time_callers": int(r["first_time_callers"]),
            "conversion_rate": float(r["conversion_rate"]),
            "no_session": bool(r.get("no_session")),
        }
        for r in rows
    ]
    return JSONResponse({"dimension": dimension, "data": data})


routes = [Route("/api/reports/calls", authorized(calls_report), methods=["GET"])]
