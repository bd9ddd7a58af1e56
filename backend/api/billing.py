"""``/api/billing/*``: pay-per-call billing through the API (issue #20).

Plans, billable events, monthly statements (JSON or CSV), disputes and the revenue report
of :mod:`attribution.billing`. Everything reads within the token's scope: a member's token
sees its own advertiser's plans (and the portal's default), events, statements and
disputes only. What only the portal does (adding plans, closing and sending months,
deciding disputes, the revenue report) needs an administrator's token; disputing a call is
for the call's advertiser.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution.billing import documents, events, plans, revenue, statements
from attribution.billing.money import (
    BillingError,
    check_month,
    month_bounds,
    month_of,
    previous_month,
)
from attribution.csv_encoding import CSV_ENCODINGS
from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.call_work import P_ADVERTISER
from backend.api.endpoints import Endpoints
from backend.api.params import (
    bool_param,
    choice_param,
    db_of,
    int_param,
    one_advertiser,
)
from backend.auth import ApiPrincipal
from backend.downloads import attachment
from backend.errors import ApiError
from backend.http import read_json_object
from pool.store import now_ms

api = Endpoints(tags=["billing"])

_OBJ = {"type": "object"}
_CONFLICT = {"$ref": "#/components/responses/Error"}
P_MONTH = oa.query_param(
    "month",
    {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"},
    "The month, YYYY-MM in the billing time zone (default: last month).",
)
STATEMENT = oa.component(
    "Statement",
    {
        "type": "object",
        "required": ["advertiser_id", "month", "status", "statement"],
        "properties": {
            "advertiser_id": {"type": "integer"},
            "month": {"type": "string"},
            "status": {"type": "string", "enum": list(statements.STATUSES)},
            "closed_ms": {"type": ["integer", "null"]},
            "sent_ms": {"type": ["integer", "null"]},
            "forced": {"type": "boolean"},
            "statement": {
                "type": "object",
                "description": "The document: lines, adjustments and totals in integer yen "
                "(docs/billing.md); a closed month's is exactly as it was closed.",
            },
        },
    },
)
PRICE = {
    "type": "object",
    "required": ["kind", "price_yen"],
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "string", "enum": list(plans.PRICE_KINDS)},
        "price_yen": {"type": "integer", "minimum": 0},
        "source": {"type": "string", "maxLength": plans.MATCH_MAX},
        "medium": {"type": "string", "maxLength": plans.MATCH_MAX},
        "target_id": {"type": ["integer", "null"]},
    },
}
PLAN_IN = {
    "type": "object",
    "required": ["effective_from"],
    "additionalProperties": False,
    "properties": {
        "advertiser_id": {"type": ["integer", "null"], "description": "null: the default"},
        "effective_from": {"type": "string", "format": "date"},
        "label": {"type": "string", "maxLength": plans.LABEL_MAX},
        "min_talk_s": {"type": "integer", "minimum": 0, "maximum": plans.MIN_TALK_MAX},
        "repeat_days": {"type": "integer", "minimum": 0, "maximum": plans.REPEAT_DAYS_MAX},
        "monthly_fee_yen": {"type": "integer", "minimum": 0},
        "monthly_cap_yen": {"type": ["integer", "null"], "minimum": 0},
        "prices": {"type": "array", "items": PRICE, "maxItems": plans.PRICES_MAX},
    },
}
PLAN = oa.component("BillingPlan", {**PLAN_IN, "additionalProperties": True})


def _terms(request: Request) -> statements.Terms:
    terms: statements.Terms = request.app.state.settings.billing_terms()
    return terms


def _month(request: Request) -> str:
    raw = request.query_params.get("month")
    if raw is None:
        return previous_month(month_of(now_ms(), _terms(request).tz))
    try:
        return check_month(raw)
    except BillingError as exc:
        raise ApiError(422, "invalid", str(exc), field="month") from exc


def admin_only(principal: ApiPrincipal) -> None:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "Only the portal's administrators may do this.")


def invalid(exc: BillingError) -> ApiError:
    status = 409 if isinstance(exc, statements.StatementConflict) else 422
    return ApiError(status, "conflict" if status == 409 else "invalid", str(exc), field=exc.field)


@api.get(
    "/api/billing/plans",
    "Price plans: the advertiser's own and the portal's default",
    params=[oa.query_param("advertiser_id", {"type": "integer"}, "Only this advertiser's.")],
    ok="Plans, oldest first",
    returns=oa.data_list(PLAN),
)
async def list_plans(request: Request, principal: ApiPrincipal) -> Response:
    """The plans the token may see (a member's: its own and the defaults)."""
    wanted = int_param(request, "advertiser_id")
    if wanted is not None and not principal.scope.allows(wanted):
        raise ApiError(403, "forbidden", "This token may not see that advertiser.")
    advertiser = wanted if wanted is not None else principal.advertiser_id
    # An administrator without a filter: every plan; else the advertiser's and defaults.
    found = await plans.plans_of(db_of(request), advertiser, every=advertiser is None)
    return JSONResponse({"data": [plans.plan_out(p) for p in found]})


@api.post(
    "/api/billing/plans",
    "Add a price plan (administrators)",
    body=PLAN_IN,
    created="The plan",
    returns=PLAN,
)
async def add_plan(request: Request, principal: ApiPrincipal) -> Response:
    """Add a plan from a day on; plans are never changed afterwards (a new price is a new
    plan). One that starts inside a closed month is adjusted on the next open statement."""
    admin_only(principal)
    data = await read_json_object(request, 32_768, fields=PLAN_IN["properties"])
    advertiser = data.get("advertiser_id")
    if advertiser is not None and (isinstance(advertiser, bool) or not isinstance(advertiser, int)):
        raise ApiError(
            422, "invalid", "advertiser_id must be an id or null.", field="advertiser_id"
        )
    db = db_of(request)
    try:
        plan = plans.check_plan(data, advertiser)
        async with db.write() as tx:
            if advertiser is not None and not await tx.fetchval(
                "SELECT id FROM advertisers WHERE id = :a", {"a": advertiser}
            ):
                raise ApiError(404, "not_found", f"No advertiser {advertiser}.")
            plan_id = await plans.add_plan(tx, plan, actor=actor(principal), now_ms=now_ms())
    except BillingError as exc:
        raise invalid(exc) from exc
    saved = next(p for p in await plans.plans_of(db, advertiser) if p.id == plan_id)
    return JSONResponse(plans.plan_out(saved), status_code=201)


@api.get(
    "/api/billing/events",
    "A month's billable events: every call with its amount or why it is not billed",
    params=[P_ADVERTISER, P_MONTH],
    ok="The events, oldest first",
    returns=oa.data_list(_OBJ),
)
async def list_events(request: Request, principal: ApiPrincipal) -> Response:
    """Derived now from the calls, disputes and plans (a closed month's statement keeps
    what it was closed with)."""
    advertiser = one_advertiser(request, principal)
    month = _month(request)
    terms = _terms(request)
    db = db_of(request)
    start, end = month_bounds(month, terms.tz)
    found = await events.occurrences(db, advertiser, start, end)
    derived = events.derive(found, await plans.plans_of(db, advertiser), start, end, terms.tz)
    return JSONResponse(
        {
            "data": [
                {
                    "kind": e.occurrence.kind,
                    "id": e.occurrence.id,
                    "at_ms": e.occurrence.at_ms,
                    "billable": e.billable,
                    "reason": e.reason,
                    "amount_yen": e.amount_yen,
                    "minutes": e.minutes,
                    "plan_id": e.plan_id,
                }
                for e in derived
            ]
        }
    )


def _statement_out(s: statements.Statement) -> dict[str, Any]:
    out = dataclasses.asdict(s)
    out["statement"] = out.pop("body")
    return out


@api.get(
    "/api/billing/statements",
    "The month's statements of every advertiser the token may see",
    params=[P_MONTH],
    ok="Status and totals",
    returns=oa.data_list(_OBJ),
)
async def list_statements(request: Request, principal: ApiPrincipal) -> Response:
    """Each advertiser's status and totals for the month (open ones computed now)."""
    month = _month(request)
    where, params = principal.scope.where_condition(advertiser="id", site=None)
    db = db_of(request)
    out = []
    for row in await db.fetchall(f"SELECT id FROM advertisers{where} ORDER BY name, id", params):
        s = await statements.statement(db, int(row["id"]), month, _terms(request))
        body = s.body
        out.append(
            {
                "advertiser_id": s.advertiser_id,
                "advertiser": body["advertiser"]["name"],
                "month": month,
                "status": s.status,
                **{k: body[k] for k in ("billable", "taxable_yen", "tax_yen", "total_yen")},
            }
        )
    return JSONResponse({"data": out})


@api.get(
    "/api/billing/statement",
    "One advertiser's statement of a month (JSON, or CSV for spreadsheets)",
    params=[
        P_ADVERTISER,
        P_MONTH,
        oa.query_param("format", {"type": "string", "enum": ["json", "csv"], "default": "json"}),
        oa.query_param(
            "encoding",
            {"type": "string", "enum": list(CSV_ENCODINGS), "default": "utf-8"},
            "CSV only. `excel`: UTF-8 with a byte-order mark, for Excel.",
        ),
    ],
    responses={
        200: {
            "description": "The statement",
            "content": {
                "application/json": {"schema": STATEMENT},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def get_statement(request: Request, principal: ApiPrincipal) -> Response:
    """The closed statement as it was closed, or the open one as it stands now."""
    advertiser = one_advertiser(request, principal)
    month = _month(request)
    fmt = choice_param(request, "format", ("json", "csv"), "json")
    encoding = choice_param(request, "encoding", CSV_ENCODINGS, "utf-8")
    s = await statements.statement(db_of(request), advertiser, month, _terms(request))
    if fmt == "csv":
        suffix = "-excel" if encoding == "excel" else ""
        name = f"statement-{advertiser}-{month}{suffix}.csv"
        content, charset = documents.statement_csv(s.body, encoding=encoding)
        return attachment(content, filename=name, media_type=f"text/csv; charset={charset}")
    return JSONResponse(_statement_out(s))


P_FORCE = oa.query_param(
    "force", {"type": "boolean", "default": False}, "Close even with open disputes."
)


@api.post(
    "/api/billing/statement/close",
    "Close (lock) an advertiser's month (administrators)",
    params=[P_ADVERTISER, P_MONTH, P_FORCE],
    created="The closed statement",
    returns=STATEMENT,
    responses={409: _CONFLICT},
)
async def close_statement(request: Request, principal: ApiPrincipal) -> Response:
    """409 when the month is not over, is closed already or has open disputes (unless
    ``force``)."""
    admin_only(principal)
    advertiser = one_advertiser(request, principal)
    month = _month(request)
    force = bool(bool_param(request, "force"))
    db = db_of(request)
    try:
        async with db.write() as tx:
            closed = await statements.close(
                tx, advertiser_id=advertiser, month=month, terms=_terms(request),
                actor=actor(principal), now_ms=now_ms(), force=force,
            )  # fmt: skip
    except BillingError as exc:
        raise invalid(exc) from exc
    return JSONResponse(_statement_out(closed), status_code=201)


@api.post(
    "/api/billing/statement/send",
    "Record that a closed statement was sent (administrators)",
    params=[P_ADVERTISER, P_MONTH],
    ok="The statement",
    returns=STATEMENT,
    responses={409: _CONFLICT},
)
async def send_statement(request: Request, principal: ApiPrincipal) -> Response:
    """closed → sent (409 for an open month)."""
    admin_only(principal)
    advertiser = one_advertiser(request, principal)
    month = _month(request)
    db = db_of(request)
    try:
        async with db.write() as tx:
            await statements.mark_sent(
                tx, advertiser_id=advertiser, month=month, actor=actor(principal), now_ms=now_ms()
            )
    except BillingError as exc:
        raise invalid(exc) from exc
    return JSONResponse(
        _statement_out(await statements.statement(db, advertiser, month, _terms(request)))
    )


@api.get(
    "/api/billing/revenue",
    "The portal's revenue per advertiser and month, with the trend (administrators)",
    params=[
        P_MONTH,
        oa.query_param(
            "months", {"type": "integer", "minimum": 1, "maximum": revenue.MONTHS_MAX, "default": 6}
        ),
    ],
    ok="Cells by advertiser, oldest month first",
    returns=oa.data_list(_OBJ),
)
async def get_revenue(request: Request, principal: ApiPrincipal) -> Response:
    """Calls, billable calls, accepted disputes and the taxable amount of each month."""
    admin_only(principal)
    count = int_param(request, "months", lo=1, hi=revenue.MONTHS_MAX) or 6
    months = revenue.months_ending(_month(request), count)
    db = db_of(request)
    advertisers = [
        (int(r["id"]), r["name"])
        for r in await db.fetchall("SELECT id, name FROM advertisers ORDER BY name, id")
    ]
    cells = await revenue.report(db, advertisers, months, _terms(request))
    return JSONResponse({"data": [c.__dict__ for c in cells]})


routes = api.routes
