"""Reserved calls in the dashboard: connection KPIs per advertiser and medium (the portal's
view; a member sees its own advertiser's), and the same figures as CSV."""

from __future__ import annotations

import io

from starlette.requests import Request
from starlette.responses import Response

from attribution import reservation_kpis
from attribution.csvcells import csv_writer
from backend.dashboard.filters import read_filters
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, page, render


@page()
async def reservations_page(request: Request, viewer: Viewer) -> Response:
    """Reservations, reminders, connections, talk time, first attempt, retries, rebooks,
    cancellations and no-shows over the period chosen."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    rows = await reservation_kpis.kpis(db, f.scope, start_ms=f.start_ms, end_ms=f.end_ms)
    total = reservation_kpis.Kpis(0, "", "")
    for k in rows:
        for name in ("reservations", "reminders_sent", "connected", "cancellations", "no_shows"):
            setattr(total, name, getattr(total, name) + getattr(k, name))
    live = total.reservations - total.cancellations
    total.connection_rate = total.connected / live if live else 0.0
    return render(
        request,
        viewer,
        "reservations.html",
        {
            "f": f,
            "rows": rows,
            "total": total,
            "tz": f.tz,
            "csv_query": f.query(drill=False),
            "dates_only": True,  # (the filter bar without site and confidence)
        },
    )


@page()
async def reservations_csv(request: Request, viewer: Viewer) -> Response:
    """The page's figures as CSV (UTF-8 with a BOM, for Excel)."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    rows = await reservation_kpis.kpis(db, f.scope, start_ms=f.start_ms, end_ms=f.end_ms)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(reservation_kpis.COLUMNS)
    for k in rows:
        row = k.row()
        writer.writerow([row[c] for c in reservation_kpis.COLUMNS])
    name = f"reservations-{f.first.isoformat()}-{f.last.isoformat()}.csv"
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
