"""The cost page: ad cost imported from the platforms' reports beside the calls it bought.

The same numbers as ``GET /api/reports/costs`` (:mod:`attribution.cost_report`) for the
dashboard's filters, and the import of a report download (:mod:`attribution.costs`) with a
progress bar for large files (``app.js`` sends the form itself and shows the upload's
progress; without script the form posts as any other).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import cost_report as cr
from attribution import costs
from attribution import platforms as reg
from backend.dashboard.filters import read_filters
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.web import (
    db_of,
    int_param,
    page,
    redirect,
    render,
    visible_advertisers,
    visible_sites,
)
from pool.store import now_ms

PAGE = "/dashboard/costs"
# The multipart envelope around the file (field names, boundaries) on top of the file.
_ENVELOPE_BYTES = 100_000


def _platforms() -> list[str]:
    """Platforms a cost report can come from: those with ads that cost (every one known)."""
    return list(reg.keys())


@page()
async def costs_page(request: Request, viewer: Viewer) -> Response:
    """Cost, calls, cost per (qualified) call and ROAS by source, campaign or keyword."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    level = request.query_params.get("by", "keyword")
    if level not in cr.LEVELS:
        raise HTTPException(400, "Unknown cost report level.")
    rows = await cr.cost_report(
        db,
        f.scope,
        start_ms=f.start_ms,
        end_ms=f.end_ms,
        zone=ZoneInfo(f.tz),
        level=level,
        confidences=f.confidences,
    )
    imports = await cr.list_imports(
        db, viewer.scope.narrow(advertiser_id=f.advertiser_id), limit=50
    )
    return render(
        request,
        viewer,
        "costs.html",
        {
            "f": f,
            "dimension": level,
            "dimensions": cr.LEVELS,
            "rows": rows,
            "total": cr.totals(rows),
            "imports": imports,
            "platforms": _platforms(),
            "platform_labels": {p.key: p.label for p in reg.platforms()},
            "advertisers": await visible_advertisers(db, viewer),
            "sites": await visible_sites(db, viewer),
            "imported": int_param(request.query_params.get("imported"), "imported"),
        },
    )


@page(upload=True, max_upload=costs.MAX_FILE_BYTES + _ENVELOPE_BYTES)
async def import_costs(request: Request, viewer: Viewer) -> Response:
    """Import a report download for the chosen advertiser (and site), all rows or none."""
    form = request.state.form
    db = db_of(request)
    platform = form.get("platform", "")
    if platform not in _platforms():
        raise FormError("platform", N_("form.required"), page=PAGE)
    advertiser_id = viewer.advertiser_id
    if advertiser_id is None:
        advertiser_id = int_param(form.get("advertiser"), "advertiser")
        if advertiser_id is None:
            raise FormError("advertiser", N_("form.required"), page=PAGE)
    if not viewer.scope.allows(advertiser_id):
        raise HTTPException(404, "No such advertiser.")
    site_id = int_param(form.get("site"), "site")
    if not request.state.file:
        raise FormError("file", N_("costs.no_file"), page=PAGE)
    try:
        parsed = costs.parse(request.state.file)
    except costs.CostFileError as exc:
        rows = "; ".join(f"{row}: {field} {why}" for row, field, why in exc.errors[:5])
        raise FormError("file", N_("costs.refused"), page=PAGE, text=f"{exc} {rows}") from exc
    try:
        done = await cr.import_costs(
            db,
            parsed,
            advertiser_id=advertiser_id,
            site_id=site_id,
            platform=platform,
            filename=form.get("filename", "")[:200],
            by=f"user {viewer.user_id} (dashboard)",
            now_ms=now_ms(),
        )
    except LookupError as exc:
        raise FormError("site", N_("costs.site_not_advertisers"), page=PAGE) from exc
    return redirect(f"{PAGE}?imported={done.id}")
