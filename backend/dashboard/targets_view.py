"""The advertiser of a site's business numbers (targets): one site key, several advertisers.

A portal's site (its owner's) can show business numbers of other advertisers; each target's
pool, numbers and calls are then that advertiser's (:mod:`pool.targets`). Administrators
choose a target's advertiser on the site page, when adding the target or later.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.web import int_param, owned, owned_at, page, redirect
from pool import numbers, targets
from pool.store import Row, Store


async def site_targets(db: Store, site: Row) -> list[Row]:
    """The site's targets with their pool and the advertiser each belongs to."""
    return await db.fetchall(
        "SELECT t.*, p.id AS pool_id, p.name AS pool_name,"
        f" {targets.TARGET_ADVERTISER} AS owner_id, a.name AS owner_name FROM targets t"
        " JOIN sites s ON s.id = t.site_id"
        f" JOIN advertisers a ON a.id = {targets.TARGET_ADVERTISER}"
        " LEFT JOIN pools p ON p.target_id = t.id WHERE t.site_id = :s ORDER BY t.id",
        {"s": site["id"]},
    )


async def chosen_advertiser(
    db: Store, viewer: Viewer, site: Row, form: Mapping[str, str], page_url: str
) -> int | None:
    """The advertiser a form gives a target (``target_advertiser``): None for the site's
    own (nothing chosen, or a member, who can only give targets to their own advertiser);
    an advertiser the viewer cannot see is 404."""
    chosen = int_param(form.get("target_advertiser"), "target_advertiser")
    if chosen is None or not viewer.is_admin or chosen == site["advertiser_id"]:
        return None
    await owned(db, viewer, "advertisers", chosen)
    if site["number_per_visitor"]:
        raise FormError("target_advertiser", N_("form.shared_site_per_visitor"), page=page_url)
    return chosen


@page(admin=True)
async def target_advertiser(request: Request, viewer: Viewer) -> Response:
    """Give a pool's target (and its numbers, and the calls to come) to another advertiser,
    or back to its site's (administrators)."""
    db, pool = await owned_at(request, viewer, "pools")
    site = await owned(db, viewer, "sites", pool["site_id"])
    page_url = f"/dashboard/settings/sites/{site['id']}"
    owner = await chosen_advertiser(db, viewer, site, request.state.form, page_url)
    try:
        await targets.set_advertiser(
            db, pool_id=int(pool["id"]), advertiser_id=owner, caller=viewer.advertiser_id
        )
    except numbers.NumberError as exc:
        raise FormError(
            "target_advertiser", N_("form.shared_site_per_visitor"), page=page_url
        ) from exc
    return redirect(page_url + "#targets")
