"""Tracking numbers: the list, one added by hand, many pasted or uploaded as CSV.

Pasted lines and uploaded files go through the same checks as ``callpath numbers import``
(:func:`pool.inventory.add_numbers`): every row is checked, then all are stored or none,
and each refused row is shown on the page with its line and reason.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.dashboard import codes_view
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.pool_health import pool_health
from backend.dashboard.web import db_of, int_param, owned, page, redirect, render
from pool import destinations, imports, inventory, numbers
from pool.store import Row, now_ms

KINDS = ("pool", "source", "overflow")
NUMBERS = "/dashboard/settings/numbers"


def _text(form: dict[str, str], name: str, max_len: int, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise FormError(name, N_("form.required"), page=NUMBERS)
    if len(value) > max_len:
        raise FormError(name, N_("form.too_long"), page=NUMBERS, max=max_len)
    return value


def public_base(request: Request) -> str:
    """This install's address as the outside world reaches it (``public_url`` if set)."""
    settings = request.app.state.settings
    return str(settings.public_url or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")


async def _pool_of(request: Request, viewer: Viewer, form: dict[str, str]) -> tuple[Row, str]:
    """The chosen pool's site and the business number it stands in for (404 elsewhere)."""
    db = db_of(request)
    pool_id = int_param(form.get("pool"), "pool")  # a malformed id is a 400, as in any URL
    if pool_id is None:
        raise FormError("pool", N_("form.choose_pool"), page=NUMBERS)
    pool = await owned(db, viewer, "pools", pool_id)
    site = await owned(db, viewer, "sites", pool["site_id"])
    target = await db.fetchval("SELECT number FROM targets WHERE id = :t", {"t": pool["target_id"]})
    return site, str(target)


async def _store(
    request: Request, viewer: Viewer, specs: list[inventory.NumberSpec], malformed: Any = ()
) -> list[inventory.RowError]:
    """Store every spec or none; the refused rows (empty: all stored)."""
    try:
        await inventory.add_numbers(
            db_of(request),
            specs,
            advertiser_id=viewer.advertiser_id,
            now_ms=now_ms(),
            errors=malformed,
            forward_countries=request.app.state.settings.forward_country_list(),
        )
    except inventory.InventoryError as exc:
        return exc.errors
    return []


async def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    db = db_of(request)
    where, params = viewer.scope.where_condition("n")
    rows = await db.fetchall(
        "SELECT n.*, p.name AS pool_name, s.name AS site_name, s.country AS site_country"
        " FROM tracking_numbers n"
        " LEFT JOIN pools p ON p.id = n.pool_id LEFT JOIN sites s ON s.id = n.site_id"
        + where
        + " ORDER BY s.name, p.name, n.number LIMIT 2000",
        params,
    )
    # Numbers stored before the destination checks (or by hand) keep forwarding, since a
    # caller is always put through; the ones that would be refused today are flagged.
    countries = request.app.state.settings.forward_country_list()
    flags = {
        n["id"]: destinations.destination_problem(
            n["forward_to"], site_country=n["site_country"] or "", countries=countries
        )
        for n in rows
        if n["status"] != "retired"
    }
    pools = await pool_health(db, viewer.scope, request.app.state.settings)
    context = {
        "fixed_codes": await codes_view.fixed_codes(db, viewer.advertiser_id),
        "numbers": rows,
        "pools": pools,
        "flags": flags,
        "kinds": KINDS,
        "voice_url": public_base(request) + "/twilio/voice",
        "errors": [],
        "paste": "",
        "added": int_param(request.query_params.get("added"), "added") or 0,
        **extra,
    }
    return render(request, viewer, "numbers.html", context, status=status)


@page()
async def numbers_page(request: Request, viewer: Viewer) -> Response:
    """Tracking numbers in scope; POST adds one to a pool."""
    if request.method == "POST":
        form = request.state.form
        site, target = await _pool_of(request, viewer, form)
        typed = _text(form, "number", 40)
        try:
            numbers.to_e164(typed, site["country"] or "JP")
        except numbers.NumberError as exc:
            raise FormError("number", N_("form.bad_number"), value=typed) from exc
        spec = inventory.NumberSpec(
            number=typed,
            kind=form.get("kind", "pool"),
            site=site["site_key"],
            target=target,
            label=_text(form, "source_label", 100, required=False),
        )
        errors = await _store(request, viewer, [spec])
        if errors:
            # The form's names for the fields a refused row names.
            field = {"label": "source_label", "target": "pool", "site": "pool"}.get(
                errors[0].field, errors[0].field or "number"
            )
            raise FormError(
                field, N_("form.number_refused"), text="; ".join(e.reason for e in errors)
            )
        return redirect("/dashboard/settings/numbers?added=1")
    return await _page(request, viewer)


def pasted_specs(
    text: str, *, site: str, target: str, kind: str, label: str
) -> list[inventory.NumberSpec]:
    """One spec per non-blank line (or comma-separated item) of pasted text; ``row`` is the
    line, so a refused number is named by where it was pasted."""
    specs = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        for item in re.split(r"[,\t;]", line):
            number = item.strip()
            if number:
                specs.append(
                    inventory.NumberSpec(
                        number=number[:200],
                        kind=kind,
                        site=site,
                        target=target,
                        label=label,
                        row=line_no,
                    )
                )
    return specs


@page()
async def bulk_numbers(request: Request, viewer: Viewer) -> Response:
    """Many numbers pasted into one pool: all stored, or none and every refusal shown."""
    form = request.state.form
    site, target = await _pool_of(request, viewer, form)
    kind = form.get("kind", "pool")
    paste = form.get("numbers", "")
    specs = pasted_specs(
        paste,
        site=site["site_key"],
        target=target,
        kind=kind,
        label=_text(form, "source_label", 100, required=False),
    )
    if not specs:
        errors = [inventory.RowError(1, "number", "no numbers were pasted")]
    else:
        errors = await _store(request, viewer, specs)
    if errors:
        return await _page(request, viewer, 422, errors=errors, paste=paste)
    return redirect(f"/dashboard/settings/numbers?added={len(specs)}")


@page(upload=True)
async def import_numbers(request: Request, viewer: Viewer) -> Response:
    """A numbers CSV (the format of ``callpath numbers import``), all rows or none.

    Rows without a site or target take the chosen pool's.
    """
    form = request.state.form
    site, target = await _pool_of(request, viewer, form)
    try:
        specs, malformed = imports.read_csv(
            imports.decode(request.state.file), site=site["site_key"]
        )
    except inventory.InventoryError as exc:
        return await _page(request, viewer, 422, errors=exc.errors)
    specs = [
        dataclasses.replace(s, target=target)
        if s.site == site["site_key"] and not s.target and s.kind.strip().lower() != "source"
        else s
        for s in specs
    ]
    errors = await _store(request, viewer, specs, malformed)
    if errors:
        return await _page(request, viewer, 422, errors=errors)
    return redirect(f"/dashboard/settings/numbers?added={len(specs)}")
