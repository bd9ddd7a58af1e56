"""``/api/reports/calls``: sessions, calls and qualified calls by one dimension, optionally
broken down by one or two more (``breakdown=source,match_type``) and filtered on a source
or a campaign.

The numbers come from ``attribution.reports.calls_report`` and
``attribution.report_dimensions.breakdown`` (the dashboard's reports), so the API and the
dashboard always agree.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import report_dimensions, reports
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import (
    P_MIN_CONFIDENCE,
    RANGE_PARAMS,
    choice_param,
    db_of,
    min_confidence,
    report_window,
)
from backend.auth import ApiPrincipal
from backend.errors import ApiError

api = Endpoints(tags=["reports"])

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
            "breakdown": {
                "type": "array",
                "description": "The rows of the next dimension under this one (only when"
                " `breakdown` is given; a row's counts are the sums of these).",
                "items": oa.ref("ReportRow"),
            },
        },
    },
)


@api.get(
    "/api/reports/calls",
    "Calls by channel, source, campaign, ad group, keyword, landing page or device",
    params=[
        oa.query_param(
            "dimension",
            {"type": "string", "enum": list(DIMENSIONS), "default": "source"},
            "What to group by.",
        ),
        oa.query_param(
            "breakdown",
            {"type": "string", "maxLength": 100},
            "One or two more dimensions, comma-separated (e.g. `source,match_type`): each"
            " row holds its `breakdown` rows with their subtotals.",
        ),
        oa.query_param(
            "source",
            {"type": "string", "maxLength": report_dimensions.FILTER_VALUE_MAX},
            "Only sessions and calls from this source (calls by the touch that led to them).",
        ),
        oa.query_param(
            "campaign",
            {"type": "string", "maxLength": report_dimensions.FILTER_VALUE_MAX},
            "Only sessions and calls of this campaign.",
        ),
        *RANGE_PARAMS,
        P_MIN_CONFIDENCE,
    ],
    responses={200: oa.rows_response("One row per value of the dimension", REPORT_ROW)},
)
async def calls_report(request: Request, principal: ApiPrincipal) -> Response:
    """Calls by dimension over a period (default: the last 30 days)."""
    dimension = choice_param(request, "dimension", DIMENSIONS, "source")
    more = _breakdown_param(request, dimension)
    filters = _filter_params(request)
    args: dict[str, Any] = {
        **report_window(request, principal),
        "confidences": min_confidence(request),
    }
    if more or filters:
        rows = await report_dimensions.breakdown(
            db_of(request), dimensions=(dimension, *more), filters=filters, **args
        )
    else:
        rows = await reports.calls_report(db_of(request), dimension=dimension, **args)
    data = [_row(r, nested=bool(more)) for r in rows]
    body: dict[str, Any] = {"dimension": dimension, "data": data}
    if more:
        body["breakdown"] = list(more)
    return JSONResponse(body)


def _breakdown_param(request: Request, dimension: str) -> tuple[str, ...]:
    raw = request.query_params.get("breakdown", "")[:101]
    if not raw:
        return ()
    more = tuple(part.strip() for part in raw.split(","))
    try:
        report_dimensions.check_dimensions((dimension, *more))
    except ValueError as exc:
        raise ApiError(
            422,
            "invalid",
            f"Parameter 'breakdown' takes one or two of {', '.join(DIMENSIONS)}, comma-separated,"
            " other than the dimension.",
            field="breakdown",
        ) from exc
    return more


def _filter_params(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in report_dimensions.FILTERABLE:
        value = request.query_params.get(name)
        if value is None:
            continue
        # PostgreSQL text cannot hold NUL, and no source or campaign has one.
        if len(value) > report_dimensions.FILTER_VALUE_MAX or "\x00" in value:
            raise ApiError(
                422, "invalid", f"Parameter {name!r} is too long or holds a NUL.", field=name
            )
        out[name] = value
    return out


def _row(r: dict[str, Any], *, nested: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": str(r["key"]),
        "sessions": int(r["sessions"]),
        "calls": int(r["calls"]),
        "qualified_calls": int(r["qualified_calls"]),
        "first_time_callers": int(r["first_time_callers"]),
        "conversion_rate": float(r["conversion_rate"]),
        "no_session": bool(r.get("no_session")),
    }
    if nested:
        row["breakdown"] = [_row(c, nested=c.get("children") != []) for c in r["children"]]
    return row


routes = api.routes
