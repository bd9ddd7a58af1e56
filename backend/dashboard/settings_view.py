"""Settings: sites (domains, business numbers, snippet tag), tracking numbers, pool health."""

from __future__ import annotations

import secrets

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import codes, tag_seen
from backend import accounts
from backend.dashboard import targets_view, web
from backend.dashboard.fmt import zone
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.pool_health import pool_health
from pool import admin, destinations, numbers, targets
from pool.store import now_ms


def _text(form: dict[str, str], name: str, max_len: int, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise FormError(name, N_("form.required"))
    if len(value) > max_len:
        raise FormError(name, N_("form.too_long"), max=max_len)
    return value


def _domains(raw: str) -> list[str]:
    hosts = [h.strip().lower() for h in raw.replace("\n", ",").split(",") if h.strip()]
    for host in hosts:
        if len(host) > 253 or any(c in host for c in "/ :@?#"):
            raise FormError("domains", N_("form.bad_host"), value=host[:60])
    return hosts[:50]


def _timezone(raw: str) -> str:
    name = raw.strip() or "Asia/Tokyo"
    if zone(name).key != name:
        raise FormError("timezone", N_("form.bad_timezone"), value=name[:60])
    return name


@web.page()
async def sites_page(request: Request, viewer: Viewer) -> Response:
    """Every visible site; POST creates one."""
    db = web.db_of(request)
    if posted := await web.posted_for_advertiser(request, viewer):
        form, advertiser_id = posted
        async with db.write() as tx:
            site_id = await accounts.create_site(
                tx,
                advertiser_id=advertiser_id,
                site_key="s_" + secrets.token_hex(6),
                name=_text(form, "name", 200),
                domains=_domains(form.get("domains", "")),
                timezone=_timezone(form.get("timezone", "")),
                now_ms=now_ms(),
            )
        return web.redirect(f"/dashboard/settings/sites/{site_id}")
    return web.render(
        request,
        viewer,
        "sites.html",
        {
            "sites": await web.visible_sites(db, viewer),
            "advertisers": await web.visible_advertisers(db, viewer),
        },
    )


@web.page()
async def site_page(request: Request, viewer: Viewer) -> Response:
    """One site: edit it; its business numbers; the snippet tag to copy."""
    db, site = await web.owned_at(request, viewer, "sites")
    if request.method == "POST":
        form = request.state.form
        await db.execute(
            "UPDATE sites SET name = :n, domains = :d, timezone = :tz WHERE id = :id",
            {
                "n": _text(form, "name", 200),
                "d": orjson.dumps(_domains(form.get("domains", ""))).decode(),
                "tz": _timezone(form.get("timezone", "")),
                "id": site["id"],
            },
        )
        return web.redirect(f"/dashboard/settings/sites/{site['id']}")
    shown = await targets_view.site_targets(db, site)
    settings = request.app.state.settings
    base = (settings.public_url or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")
    snippet = f'<script async src="{base}/dni.js" data-site="{site["site_key"]}"></script>'
    return web.render(
        request,
        viewer,
        "site.html",
        {
            "site": site,
            "domains": ", ".join(orjson.loads(site["domains"] or "[]")),
            "targets": shown,
            "snippet": snippet,
            "tz": site["timezone"],
            "seen": await tag_seen.seen_hosts(db, site["id"]),
            "default_target": await admin.target_number(db, site["default_target_id"]),
            "advertisers": await web.visible_advertisers(db, viewer) if viewer.is_admin else [],
        },
    )


@web.page()
async def numbers_mode(request: Request, viewer: Viewer) -> Response:
    """How a site's pages get numbers: visit codes in tel: links (任意番号) on or off, and one
    number per target on the page or one per visitor (with the target whose pool gives it)."""
    db, site = await web.owned_at(request, viewer, "sites")
    form = request.state.form
    page = f"/dashboard/settings/sites/{site['id']}"
    default = form.get("default_target", "")
    try:
        await admin.set_policies(
            db,
            site_key=site["site_key"],
            advertiser_id=site["advertiser_id"],
            number_per_visitor=form.get("number_per_visitor") == "1",
            default_target=default[:40],
        )
    except numbers.NumberError as exc:
        if exc.field == "number_per_visitor":  # a site key shared by several advertisers
            raise FormError(exc.field, N_("form.shared_site_per_visitor"), page=page) from exc
        raise FormError("default_target", N_("form.bad_default_target"), page=page) from exc
    async with db.write() as tx:
        await codes.set_site_codes(tx, site_id=site["id"], enabled=form.get("visit_codes") == "1")
    return web.redirect(page + "#numbers-mode")


@web.page()
async def add_target(request: Request, viewer: Viewer) -> Response:
    """Add a business number to a site, with a pool of tracking numbers to stand in for it."""
    db, site = await web.owned_at(request, viewer, "sites")
    form = request.state.form
    settings = request.app.state.settings
    page = f"/dashboard/settings/sites/{site['id']}"
    typed = _text(form, "number", 40)
    try:
        numbers.to_e164(typed, site["country"] or "JP")
    except numbers.NumberError as exc:
        raise FormError("number", N_("form.bad_number"), page=page, value=typed) from exc
    try:
        # Its pool's numbers forward here: it must be a number calls may go to.
        number = destinations.check_destination(
            typed,
            site_country=site["country"],
            countries=settings.forward_country_list(),
            field="number",
        )
    except numbers.NumberError as exc:
        raise FormError(
            "number", N_("form.destination_refused"), page=page, value=typed, text=str(exc)
        ) from exc
    label = _text(form, "label", 200, required=False) or number
    exists = await db.fetchval(
        "SELECT 1 FROM targets WHERE site_id = :s AND number = :n", {"s": site["id"], "n": number}
    )
    if exists:
        raise FormError("number", N_("form.target_exists"), status=409, page=page)
    owner = await targets_view.chosen_advertiser(db, viewer, site, form, page)
    t = now_ms()
    try:
        async with db.write() as tx:
            target_id = await numbers.add_target(
                tx, site_id=site["id"], number=number, label=label, now_ms=t
            )
            pool_id = await numbers.create_pool(
                tx,
                site_id=site["id"],
                target_id=target_id,
                name=label,
                ttl_ms=settings.lease_ttl_seconds * 1000,
                grace_ms=settings.lease_grace_seconds * 1000,
                cooldown_ms=settings.lease_cooldown_seconds * 1000,
                now_ms=t,
            )
            if owner is not None:
                await targets.give(
                    tx, pool_id=pool_id, advertiser_id=owner, caller=viewer.advertiser_id
                )
    except numbers.NumberError as exc:
        raise FormError(
            exc.field or "number", N_("form.refused"), page=page, text=str(exc)
        ) from exc
    return web.redirect(f"/dashboard/settings/sites/{site['id']}")


@web.page()
async def retire_number(request: Request, viewer: Viewer) -> Response:
    """Stop leasing a number: 'retiring' while a visitor still holds it, else 'retired'."""
    db, number = await web.owned_at(request, viewer, "tracking_numbers")
    await numbers.retire_number(db, number_id=number["id"], now_ms=now_ms())
    return web.redirect("/dashboard/settings/numbers")


@web.page()
async def pools_page(request: Request, viewer: Viewer) -> Response:
    """Utilization, peak, exhaustion and recommended size of every pool in scope."""
    pools = await pool_health(web.db_of(request), viewer.scope, request.app.state.settings)
    return web.render(request, viewer, "pools.html", {"pools": pools})


def _minutes(form: dict[str, str], name: str, low: int, high: int) -> int:
    raw = form.get(name, "").strip()
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else None
    if value is None or not low <= value <= high:
        raise FormError(name, N_("form.minutes"), page="/dashboard/pools", low=low, high=high)
    return value * 60_000


@web.page()
async def pool_update(request: Request, viewer: Viewer) -> Response:
    """Rename a pool and change how long leases last, stay matchable and rest."""
    db, pool = await web.owned_at(request, viewer, "pools")
    form = request.state.form
    try:
        name = _text(form, "name", 200)
    except FormError as exc:
        exc.page = "/dashboard/pools"
        raise
    values = {
        "n": name,
        "ttl": _minutes(form, "ttl_min", 1, 1440),
        "g": _minutes(form, "grace_min", 0, 7 * 1440),
        "c": _minutes(form, "cooldown_min", 0, 7 * 1440),
        "id": pool["id"],
    }
    try:
        numbers.check_timings(ttl_ms=values["ttl"], grace_ms=values["g"], cooldown_ms=values["c"])
    except numbers.NumberError as exc:
        raise FormError(
            "ttl_min", N_("form.pool_timings"), page="/dashboard/pools", text=str(exc)
        ) from exc
    await db.execute(
        "UPDATE pools SET name = :n, ttl_ms = :ttl, grace_ms = :g, cooldown_ms = :c WHERE id = :id",
        values,
    )
    return web.redirect("/dashboard/pools")


@web.page()
async def not_found(request: Request, viewer: Viewer) -> Response:
    """Any other dashboard address: a 404 page with the dashboard's headers."""
    raise HTTPException(404, "Not found.")
