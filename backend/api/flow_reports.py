"""``/api/reports/flows``: how calls fared in their call flows (issue #18).

By menu path, by destination rung, or by business number (target): calls, answered,
missed, answer rate, calls queued and their average wait. The numbers come from
``attribution.flow_reports``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import flow_reports
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import (
    RANGE_PARAMS,
    choice_param,
    db_of,
    report_window,
)
from backend.auth import ApiPrincipal

api = Endpoints(tags=["reports"])

# Counts are integers; the rate a fraction; the average wait null when no call queued.
_TYPES = {"key": "string", "answer_rate": "number", "avg_queue_wait_s": ["number", "null"]}
FLOW_REPORT_ROW = oa.component(
    "FlowReportRow",
    {
        "type": "object",
        "required": list(flow_reports.ROW_COLUMNS),
        "properties": {c: {"type": _TYPES.get(c, "integer")} for c in flow_reports.ROW_COLUMNS},
    },
)


@api.get(
    "/api/reports/flows",
    "Calls through call flows by menu path, destination or business number",
    params=[
        oa.query_param(
            "dimension",
            {"type": "string", "enum": list(flow_reports.DIMENSIONS), "default": "menu_path"},
            "What to group by (destination: each phone rung, counted per ring).",
        ),
        *RANGE_PARAMS,
    ],
    responses={200: oa.rows_response("One row per key", FLOW_REPORT_ROW)},
)
async def flows_report(request: Request, principal: ApiPrincipal) -> Response:
    """Answer rate, missed calls and queue wait over a period (default: the last 30 days)."""
    dimension = choice_param(request, "dimension", flow_reports.DIMENSIONS, "menu_path")
    rows = await flow_reports.flow_report(
        db_of(request), **report_window(request, principal), dimension=dimension
    )
    return JSONResponse({"dimension": dimension, "data": rows})


routes = api.routes
