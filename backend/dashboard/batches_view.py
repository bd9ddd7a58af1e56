"""Conversion files in the dashboard: a new file per platform, the list, download again,
void.

The same operations as ``POST /api/exports/conversions/{platform}`` and
``/api/conversions/batches`` (:mod:`attribution.conversions`, :mod:`attribution.batches`),
within the viewer's advertiser: a member makes, sees, downloads and voids only its
advertiser's batches; administrators every batch. A new file holds the calls not sent to
that platform before (the ledger: a second click gives only calls that came since), with
the server's upload policy (``CALLPATH_UPLOAD_MIN_CONFIDENCE``), and is kept as a batch.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import batches as bt
from attribution import conversions as conv
from attribution import platforms
from attribution.upload_policy import UploadPolicy
from backend.dashboard import web
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, page, path_id, redirect, render
from backend.downloads import file_download
from pool.store import now_ms

log = logging.getLogger("callpath.exports")
# Who may make a conversion file: it sends the advertiser's calls to an ad platform, as a
# token that is not read-only may. A role added later (one that only reads) may not.
SENDING_ROLES = frozenset({"admin", "member"})


def may_send(viewer: Viewer) -> bool:
    """Whether the viewer may make new conversion files."""
    return viewer.role in SENDING_ROLES


@page()
async def batches_page(request: Request, viewer: Viewer) -> Response:
    """A button per platform for a file of the calls not sent yet, then the newest 200
    batches in the viewer's scope, with download and void buttons."""
    db = db_of(request)
    found = await bt.list_batches(db, scope=viewer.scope.advertiser_id, limit=200)
    files = [(key, platforms.get(key).label) for key in conv.FILE_PLATFORMS]
    context = {
        "batches": found,
        "files": files if may_send(viewer) else [],
        "advertisers": await web.visible_advertisers(db, viewer) if viewer.is_admin else [],
        "min_confidence": request.app.state.settings.upload_min_confidence,
    }
    return render(request, viewer, "batches.html", context)


@page()
async def new_batch(request: Request, viewer: Viewer) -> Response:
    """Make a platform's file of the calls not sent to it yet, record it and download it.

    Form: ``platform``; an administrator may name an ``advertiser`` (else every one). The
    upload policy is the server's. An empty file (nothing new) records no batch.
    """
    if not may_send(viewer):
        raise HTTPException(403, "You may not make conversion files.")
    form = request.state.form
    platform = form.get("platform", "")
    if platform not in conv.FILE_PLATFORMS:
        raise HTTPException(404, "No such platform.")
    db = db_of(request)
    advertiser = viewer.advertiser_id
    chosen = web.int_param(form.get("advertiser") or None, "advertiser")
    if chosen is not None:
        await web.owned(db, viewer, "advertisers", chosen)  # 404 outside the viewer's scope
        advertiser = chosen
    settings = request.app.state.settings
    file = await conv.export_conversions(
        db,
        platform=platform,
        start_ms=0,
        end_ms=now_ms() + 1,
        now_ms=now_ms(),
        advertiser_id=advertiser,
        created_by=f"user {viewer.user_id} (dashboard)",
        policy=UploadPolicy(min_confidence=settings.upload_min_confidence),
    )
    log.info(
        "conversion file made",
        extra={"batch": file.batch, "platform": platform, "rows": file.count},
    )
    return file_download(
        file, {"X-Callpath-Conversions": str(file.count), "Cache-Control": "no-store"}
    )


@page()
async def batch_file(request: Request, viewer: Viewer) -> Response:
    """The recorded file again, byte for byte."""
    db = db_of(request)
    batch_id = path_id(request)
    file = await bt.batch_file(db, batch_id, scope=viewer.scope.advertiser_id)
    if file is None:
        raise HTTPException(404, "No such conversion file.")
    return file_download(file)


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
