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
    P_MIN_CONFIDENCE,
    RANGE_PARAMS,
    authorized,
    choice_param,
    db_of,
    min_confidence,
    report_window,
)
from backend.auth import ApiPrincipal

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
        },
    },
)


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
    responses={200: oa.rows_response("One row per value of the dimension", REPORT_ROW)},
)
async def calls_report(request: Request, principal: ApiPrincipal) -> Response:
    """Calls by dimension over a period (default: the last 30 days)."""
    dimension = choice_param(request, "dimension", DIMENSIONS, "source")
    rows = await reports.calls_report(
        db_of(request),
        **report_window(request, principal),
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
        }
        for r in rows
    ]
    return JSONResponse({"dimension": dimension, "data": data})


routes = [Route("/api/reports/calls", authorized(calls_report), methods=["GET"])]
