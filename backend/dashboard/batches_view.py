"""Recorded conversion files in the dashboard: the list, download again, void.

The same operations as ``/api/conversions/batches`` (:mod:`attribution.batches`), within
the viewer's advertiser: a member sees, downloads and voids only its advertiser's batches;
administrators every batch.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import batches as bt
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, page, path_id, redirect, render
from pool.store import now_ms

log = logging.getLogger("callpath.exports")


@page()
async def batches_page(request: Request, viewer: Viewer) -> Response:
    """The newest 200 batches in the viewer's scope, with download and void buttons."""
    found = await bt.list_batches(db_of(request), scope=viewer.scope.advertiser_id, limit=200)
    return render(request, viewer, "batches.html", {"batches": found})


@page()
async def batch_file(request: Request, viewer: Viewer) -> Response:
    """The recorded file again, byte for byte."""
    db = db_of(request)
    batch_id = path_id(request)
    file = await bt.batch_file(db, batch_id, scope=viewer.scope.advertiser_id)
    if file is None:
        raise HTTPException(404, "No such conversion file.")
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@page()
async def void_batch(request: Request, viewer: Viewer) -> Response:
    """Void a batch: its calls go into the next export again."""
    batch_id = path_id(request)
    try:
        batch = await bt.void_batch(
            db_of(request),
            batch_id,
            scope=viewer.scope.advertiser_id,
            by=f"user {viewer.user_id} (dashboard)",
            now_ms=now_ms(),
        )
    except bt.AlreadyVoided as exc:
        raise HTTPException(409, "This conversion file was voided before.") from exc
    if batch is None:
        raise HTTPException(404, "No such conversion file.")
    log.info(
        "conversion batch voided",
        extra={"batch": batch.batch, "platform": batch.platform, "by": batch.voided_by},
    )
    return redirect("/dashboard/conversions/batches")
