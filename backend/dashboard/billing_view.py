"""Billing pages (issue #20): the month's statements, one statement (printable on A4, and
as CSV), price plans, disputes with the audit trail, and the portal's revenue report.

Members see their own advertiser's statements, plans (their own and the portal default
that applies to them) and disputes, and dispute their calls from the call page; the
portal's administrators add plans, close and send months, decide disputes and read the
revenue report. Everything is read within the viewer's scope: another advertiser's
statement is a 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution.billing import disputes as dp
from attribution.billing import documents, plans, revenue, statements
from attribution.billing.money import (
    BillingError,
    check_month,
    month_of,
    next_month,
    previous_month,
)
from attribution.csv_encoding import CSV_ENCODINGS
from backend.dashboard import i18n, web
from backend.dashboard.call_work_view import actor
from backend.dashboard.calls_view import call_context
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.downloads import attachment
from pool.store import Row, now_ms

# The CSV file's words, by the keys of attribution.billing.documents.WORDS (literal ids, so
# that `make messages` keeps them).
CSV_WORDS = {
    "statement": N_("billing.statement"),
    "advertiser": N_("billing.advertiser"),
    "month": N_("billing.month"),
    "issuer": N_("billing.issuer"),
    "registration_number": N_("billing.registration_number"),
    "at": N_("billing.when"),
    "kind": N_("billing.kind"),
    "id": N_("billing.id"),
    "tracking_number": N_("billing.tracking_number"),
    "source": N_("billing.source"),
    "medium": N_("billing.medium"),
    "talk_s": N_("billing.talk_s"),
    "minutes": N_("billing.minutes"),
    "amount": N_("billing.amount"),
    "adjustment": N_("billing.adjustment"),
    "for_month": N_("billing.for_month"),
    "reason": N_("billing.reason"),
    "usage": N_("billing.usage"),
    "cap_reduction": N_("billing.cap_reduction"),
    "fee": N_("billing.fee"),
    "adjustments": N_("billing.adjustments"),
    "taxable": N_("billing.taxable"),
    "tax": N_("billing.tax"),
    "total": N_("billing.total"),
}


def _terms(request: Request) -> statements.Terms:
    terms: statements.Terms = request.app.state.settings.billing_terms()
    return terms


def _month(request: Request, raw: str | None = None) -> str:
    """``?month=`` (or ``raw``), else last month in the billing time zone; 400 when bad."""
    value = raw if raw is not None else request.query_params.get("month")
    if not value:
        return previous_month(month_of(now_ms(), _terms(request).tz))
    try:
        return check_month(value)
    except BillingError as exc:
        raise HTTPException(400, "A month is written YYYY-MM.") from exc


async def _advertiser(request: Request, viewer: Viewer, raw: str | None = None) -> Row:
    """The advertiser a page is about: the member's own; for an administrator the one
    named (``?advertiser=``), else the first by name. 404 outside the viewer's scope."""
    db = web.db_of(request)
    chosen = web.int_param(
        raw if raw is not None else request.query_params.get("advertiser"), "advertiser"
    )
    if viewer.advertiser_id is not None:
        chosen = viewer.advertiser_id if chosen is None else chosen
    elif chosen is None:
        first = await web.visible_advertisers(db, viewer)
        if not first:
            raise HTTPException(404, "Not found.")
        chosen = int(first[0]["id"])
    return await web.owned(db, viewer, "advertisers", chosen)


def _nav(month: str) -> dict[str, str]:
    return {"month": month, "previous": previous_month(month), "next": next_month(month)}


@web.page()
async def statements_page(request: Request, viewer: Viewer) -> Response:
    """Every visible advertiser's statement of the month: status and totals."""
    db = web.db_of(request)
    month = _month(request)
    rows = []
    for a in await web.visible_advertisers(db, viewer):
        s = await statements.statement(db, int(a["id"]), month, _terms(request))
        rows.append({"advertiser": a, "status": s.status, "body": s.body})
    return web.render(request, viewer, "billing_statements.html", {"rows": rows, **_nav(month)})


async def _statement_context(
    request: Request, viewer: Viewer, advertiser: Row, month: str
) -> dict[str, Any]:
    db = web.db_of(request)
    terms = _terms(request)
    s = await statements.statement(db, int(advertiser["id"]), month, terms)
    return {
        "s": s,
        "body": s.body,
        "advertiser": advertiser,
        "advertisers": await web.visible_advertisers(db, viewer) if viewer.is_admin else [],
        "open_disputes": await statements.open_disputes(db, int(advertiser["id"]), month, terms.tz),
        "tz": terms.tz,
        **_nav(month),
    }


@web.page()
async def statement_page(request: Request, viewer: Viewer) -> Response:
    """One advertiser's statement of the month, laid out to print on A4."""
    advertiser = await _advertiser(request, viewer)
    context = await _statement_context(request, viewer, advertiser, _month(request))
    return web.render(request, viewer, "billing_statement.html", context)


@web.page()
async def statement_csv(request: Request, viewer: Viewer) -> Response:
    """The statement as CSV (``excel``, with the byte-order mark, unless ``?encoding=utf-8``)."""
    advertiser = await _advertiser(request, viewer)
    month = _month(request)
    encoding = request.query_params.get("encoding", "excel")
    if encoding not in CSV_ENCODINGS:
        raise HTTPException(400, "Unknown encoding.")
    s = await statements.statement(
        web.db_of(request), int(advertiser["id"]), month, _terms(request)
    )
    t = i18n.translator(i18n.choose(request, viewer))
    words = {key: t(msgid) for key, msgid in CSV_WORDS.items()}
    name = f"statement-{advertiser['id']}-{month}.csv"
    content, charset = documents.statement_csv(s.body, encoding=encoding, words=words)
    return attachment(content, filename=name, media_type=f"text/csv; charset={charset}")


@web.page(admin=True)
async def close_statement(request: Request, viewer: Viewer) -> Response:
    """Close (lock) the month; with open disputes only when ``force`` is ticked."""
    form = request.state.form
    advertiser = await _advertiser(request, viewer, form.get("advertiser", ""))
    month = _month(request, form.get("month", ""))
    db = web.db_of(request)
    try:
        async with db.write() as tx:
            await statements.close(
                tx, advertiser_id=int(advertiser["id"]), month=month, terms=_terms(request),
                actor=actor(viewer), now_ms=now_ms(), force=form.get("force") == "1",
            )  # fmt: skip
    except BillingError as exc:
        context = await _statement_context(request, viewer, advertiser, month)
        context["error"] = {"field": exc.field, "message": str(exc)}
        return web.render(request, viewer, "billing_statement.html", context, status=409)
    return web.redirect(f"/dashboard/billing/statement?advertiser={advertiser['id']}&month={month}")


@web.page(admin=True)
async def send_statement(request: Request, viewer: Viewer) -> Response:
    """Record that a closed statement was sent to the advertiser."""
    form = request.state.form
    advertiser = await _advertiser(request, viewer, form.get("advertiser", ""))
    month = _month(request, form.get("month", ""))
    try:
        async with web.db_of(request).write() as tx:
            await statements.mark_sent(
                tx,
                advertiser_id=int(advertiser["id"]),
                month=month,
                actor=actor(viewer),
                now_ms=now_ms(),
            )
    except BillingError as exc:
        raise HTTPException(409, str(exc)) from exc
    return web.redirect(f"/dashboard/billing/statement?advertiser={advertiser['id']}&month={month}")


def _plan_form(form: dict[str, str]) -> dict[str, Any]:
    prices = []
    for i in range(3):
        price = form.get(f"price_{i}", "").strip()
        if not price:
            continue
        target = form.get(f"target_{i}", "").strip()
        prices.append(
            {
                "kind": form.get(f"kind_{i}", ""),
                "price_yen": price,
                "source": form.get(f"source_{i}", ""),
                "medium": form.get(f"medium_{i}", ""),
                "target_id": int(target)
                if target.isascii() and target.isdigit() and len(target) < 18
                else None,
            }
        )
    return {
        "effective_from": form.get("effective_from", ""),
        "label": form.get("label", ""),
        "min_talk_s": form.get("min_talk_s", "60"),
        "repeat_days": form.get("repeat_days", "0"),
        "monthly_fee_yen": form.get("monthly_fee_yen", "0") or "0",
        "monthly_cap_yen": form.get("monthly_cap_yen", ""),
        "prices": prices,
    }


@web.page()
async def plans_page(request: Request, viewer: Viewer) -> Response:
    """The price plans the viewer may see; administrators add one (POST)."""
    db = web.db_of(request)
    error: dict[str, str] | None = None
    typed: dict[str, str] = {}
    if request.method == "POST":
        if not viewer.is_admin:
            raise HTTPException(403, "Only administrators may add plans.")
        form = request.state.form
        raw = form.get("advertiser", "")
        advertiser = (
            None if raw in ("", "default") else int((await _advertiser(request, viewer, raw))["id"])
        )
        try:
            plan = plans.check_plan(_plan_form(form), advertiser)
            async with db.write() as tx:
                await plans.add_plan(tx, plan, actor=actor(viewer), now_ms=now_ms())
        except BillingError as exc:
            error, typed = {"field": exc.field, "message": str(exc)}, dict(form)
        else:
            return web.redirect("/dashboard/billing/plans")
    found = await plans.plans_of(db, viewer.advertiser_id, every=viewer.is_admin)
    where, params = viewer.scope.where_condition("s", site="id")
    targets = await db.fetchall(
        "SELECT t.id, t.label, t.number, a.name AS advertiser FROM targets t"
        " JOIN sites s ON s.id = t.site_id JOIN advertisers a ON a.id = s.advertiser_id"
        f"{where} ORDER BY a.name, t.id",
        params,
    )
    names = {int(a["id"]): a["name"] for a in await web.visible_advertisers(db, viewer)}
    return web.render(
        request,
        viewer,
        "billing_plans.html",
        {
            "plans": found[::-1],
            "names": names,
            "kinds": plans.PRICE_KINDS,
            "targets": targets,
            "target_names": {int(r["id"]): r["label"] or r["number"] for r in targets},
            "error": error,
            "typed": typed,
        },
        status=422 if error else 200,
    )


@web.page()
async def disputes_page(request: Request, viewer: Viewer) -> Response:
    """Disputes in the viewer's scope and the billing audit trail; the portal decides
    (POST: ``dispute``, ``decision``, ``note``)."""
    db = web.db_of(request)
    error = None
    if request.method == "POST":
        if not viewer.is_admin:
            raise HTTPException(403, "Only administrators may decide disputes.")
        form = request.state.form
        dispute_id = web.int_param(form.get("dispute"), "dispute")
        if dispute_id is None:
            raise HTTPException(404, "Not found.")
        try:
            async with db.write() as tx:
                await dp.decide(
                    tx, dispute_id=dispute_id, decision=form.get("decision", ""),
                    note=form.get("note", ""), actor=actor(viewer), now_ms=now_ms(),
                )  # fmt: skip
        except LookupError as exc:
            raise HTTPException(404, "Not found.") from exc
        except BillingError as exc:
            error = {"field": exc.field, "dispute": dispute_id}
        else:
            return web.redirect("/dashboard/billing/disputes")
    return web.render(
        request,
        viewer,
        "billing_disputes.html",
        {
            "disputes": await dp.disputes(db, viewer.scope),
            "trail": await dp.audit_trail(db, viewer.scope, limit=100),
            "names": {int(a["id"]): a["name"] for a in await web.visible_advertisers(db, viewer)},
            "error": error,
        },
        status=422 if error else 200,
    )


@web.page()
async def dispute_call(request: Request, viewer: Viewer) -> Response:
    """Dispute a call from its page, with the reason (the viewer's advertiser's calls)."""
    db, call = await web.owned_at(request, viewer, "calls")
    try:
        async with db.write() as tx:
            await dp.open_dispute(
                tx, call_id=int(call["id"]), reason=request.state.form.get("reason", ""),
                actor=actor(viewer), now_ms=now_ms(),
            )  # fmt: skip
    except BillingError as exc:
        context = await call_context(request, viewer)
        context.update(dispute_error={"field": exc.field}, typed=request.state.form)
        return web.render(request, viewer, "call.html", context, status=422)
    return web.redirect(f"/dashboard/calls/{call['id']}#dispute")


@web.page(admin=True)
async def revenue_page(request: Request, viewer: Viewer) -> Response:
    """The portal's revenue per advertiser and month, with the trend (administrators)."""
    db = web.db_of(request)
    month = _month(request)
    months = revenue.months_ending(month, 6)
    advertisers = [(int(a["id"]), a["name"]) for a in await web.visible_advertisers(db, viewer)]
    cells = await revenue.report(db, advertisers, months, _terms(request))
    by_advertiser: dict[int, list[revenue.RevenueCell]] = {}
    for cell in cells:
        by_advertiser.setdefault(cell.advertiser_id, []).append(cell)
    totals = [sum(c.amount_yen for c in cells if c.month == m) for m in months]
    return web.render(
        request,
        viewer,
        "billing_revenue.html",
        {"months": months, "rows": list(by_advertiser.values()), "totals": totals, **_nav(month)},
    )
