"""Settings that belong to other packages, edited through their own functions:
source rules (``pool.rules``), qualification rules (``attribution.qualification``),
blocked callers (read by ``backend.telephony.routing``) and notification targets
(``backend.notify.targets``)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import qualification
from backend.dashboard import web
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.notify import targets as notify_targets
from pool import numbers, rules
from pool.store import now_ms


@web.page()
async def site_rules(request: Request, viewer: Viewer) -> Response:
    """A site's source rules and qualification rules."""
    db, site = await web.owned_at(request, viewer, "sites")
    source_rules = await db.fetchall(
        "SELECT r.*, n.number, t.number AS target FROM source_rules r"
        " LEFT JOIN tracking_numbers n ON n.id = r.number_id"
        " LEFT JOIN targets t ON t.id = r.target_id WHERE r.site_id = :s"
        " ORDER BY r.priority, r.id",
        {"s": site["id"]},
    )
    source_numbers = await db.fetchall(
        "SELECT id, number, source_label FROM tracking_numbers WHERE site_id = :s"
        " AND kind = 'source' AND status = 'active' ORDER BY number",
        {"s": site["id"]},
    )
    targets = await db.fetchall(
        "SELECT id, number, label FROM targets WHERE site_id = :s ORDER BY id", {"s": site["id"]}
    )
    return web.render(
        request,
        viewer,
        "rules.html",
        {
            "site": site,
            "tz": site["timezone"],
            "rules": source_rules,
            "source_numbers": source_numbers,
            "targets": targets,
            "qualification": await qualification.rules_for(db, site["id"]),
            "kinds": rules.KINDS,
            "actions": rules.ACTIONS,
            "source_keys": rules.SOURCE_KEYS,
        },
    )


@web.page()
async def add_source_rule(request: Request, viewer: Viewer) -> Response:
    """Add a source rule (checked by :func:`pool.rules.add_rule`)."""
    db, site = await web.owned_at(request, viewer, "sites")
    form = request.state.form
    priority = form.get("priority", "").strip() or "100"
    if not priority.lstrip("-").isdigit() or len(priority) > 8:
        raise FormError("priority", N_("form.whole_number"))
    try:
        async with db.write() as tx:
            await rules.add_rule(
                tx,
                site_id=site["id"],
                kind=form.get("kind", ""),
                match_key=form.get("match_key", "").strip(),
                match_value=form.get("match_value", "").strip(),
                action=form.get("action", ""),
                number_id=web.int_param(form.get("number"), "number"),
                target_id=web.int_param(form.get("target"), "target"),
                priority=int(priority),
                label=form.get("label", "").strip(),
                now_ms=now_ms(),
            )
    except numbers.NumberError as exc:
        field = {"target": "target", "number": "number"}.get(exc.field, "match_value")
        raise FormError(field, N_("form.refused"), text=str(exc)) from exc
    return web.redirect(f"/dashboard/settings/sites/{site['id']}/rules")


@web.page()
async def delete_source_rule(request: Request, viewer: Viewer) -> Response:
    """Remove a source rule."""
    db, rule = await web.owned_at(request, viewer, "source_rules")
    await db.execute("DELETE FROM source_rules WHERE id = :id", {"id": rule["id"]})
    return web.redirect(f"/dashboard/settings/sites/{rule['site_id']}/rules")


@web.page(admin=True)
async def set_qualification(request: Request, viewer: Viewer) -> Response:
    """Set which completed calls of a site count as qualified (有効電話); administrators
    only, as over the API: on a portal they decide what an advertiser is billed for."""
    db, site = await web.owned_at(request, viewer, "sites")
    form = request.state.form
    page = f"/dashboard/settings/sites/{site['id']}/rules"
    found: dict[str, int] = {}
    for name, high in (("min_talk_s", 86_400), ("first_time_days", 3650)):
        raw = (form.get(name, "") or "0").strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) < 9 and int(raw) <= high):
            raise FormError(name, N_("form.between"), page=page, low=0, high=high)
        found[name] = int(raw)
    min_talk, days = found["min_talk_s"], found["first_time_days"]
    async with db.write() as tx:
        await qualification.set_rules(
            tx,
            site_id=site["id"],
            rules=qualification.Rules(
                min_talk_s=min_talk,
                require_answered=form.get("require_answered") == "1",
                require_first_time=form.get("require_first_time") == "1",
                first_time_days=days,
            ),
            now_ms=now_ms(),
        )
    return web.redirect(f"/dashboard/settings/sites/{site['id']}/rules")


@web.page()
async def blocked_page(request: Request, viewer: Viewer) -> Response:
    """Blocked callers (exact numbers or prefixes); POST adds one."""
    db = web.db_of(request)
    if posted := await web.posted_for_advertiser(request, viewer):
        form, advertiser_id = posted
        kind = form.get("kind", "exact")
        if kind not in {"exact", "prefix"}:
            raise HTTPException(422, "kind is exact or prefix.")
        raw = form.get("pattern", "").strip()
        if kind == "exact":
            try:
                pattern = numbers.to_e164(raw)
            except numbers.NumberError as exc:
                raise FormError("pattern", N_("form.bad_number"), value=raw[:40]) from exc
        else:
            pattern = raw.replace("-", "").replace(" ", "")
            if not (pattern.startswith("+") and pattern[1:].isdigit() and 2 <= len(pattern) <= 16):
                raise FormError("pattern", N_("form.prefix"))
        await db.execute(
            "INSERT INTO blocked_callers (advertiser_id, pattern, kind, note, created_ms)"
            " VALUES (:a, :p, :k, :n, :t) ON CONFLICT (advertiser_id, pattern, kind) DO NOTHING",
            {
                "a": advertiser_id,
                "p": pattern,
                "k": kind,
                "n": form.get("note", "").strip()[:200],
                "t": now_ms(),
            },
        )
        return web.redirect("/dashboard/settings/blocked")
    where, params = viewer.scope.where_condition("b", site=None)
    blocked = await db.fetchall(
        "SELECT b.*, a.name AS advertiser FROM blocked_callers b"
        " JOIN advertisers a ON a.id = b.advertiser_id" + where + " ORDER BY a.name, b.pattern",
        params,
    )
    return web.render(
        request,
        viewer,
        "blocked.html",
        {"blocked": blocked, "advertisers": await web.visible_advertisers(db, viewer)},
    )


@web.page()
async def unblock(request: Request, viewer: Viewer) -> Response:
    """Remove a blocked caller."""
    db, row = await web.owned_at(request, viewer, "blocked_callers")
    await db.execute("DELETE FROM blocked_callers WHERE id = :id", {"id": row["id"]})
    return web.redirect("/dashboard/settings/blocked")


@web.page()
async def notifications_page(request: Request, viewer: Viewer) -> Response:
    """Where call notifications go (webhook or e-mail); POST adds a target."""
    db = web.db_of(request)
    if posted := await web.posted_for_advertiser(request, viewer):
        form, advertiser_id = posted
        try:
            await notify_targets.add_target(
                db,
                advertiser_id=advertiser_id,
                kind=form.get("kind", ""),
                address=form.get("address", "").strip(),
                secret=form.get("secret", "")[:200],
                event=form.get("event", "completed"),
                policy=request.app.state.outbound,
                created_by=viewer.user_id,
            )
        except (ValueError, LookupError) as exc:
            raise FormError("address", N_("form.refused"), text=str(exc)) from exc
        return web.redirect("/dashboard/settings/notifications")
    where, params = viewer.scope.where_condition("n", site=None)
    rows = await db.fetchall(
        "SELECT n.id, n.kind, n.address, n.event, n.active, a.name AS advertiser"
        " FROM notification_targets n JOIN advertisers a ON a.id = n.advertiser_id"
        + where
        + " ORDER BY n.active DESC, a.name, n.id",
        params,
    )
    return web.render(
        request,
        viewer,
        "notifications.html",
        {
            "targets": rows,
            "advertisers": await web.visible_advertisers(db, viewer),
            "kinds": notify_targets.KINDS,
            "events": notify_targets.EVENTS,
        },
    )


@web.page()
async def remove_notification(request: Request, viewer: Viewer) -> Response:
    """Stop sending to a notification target (its past deliveries stay)."""
    db, row = await web.owned_at(request, viewer, "notification_targets")
    await notify_targets.remove_target(db, row["id"])
    return web.redirect("/dashboard/settings/notifications")
