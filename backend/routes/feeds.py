"""``GET /feeds/conversions/<token>.csv``: a conversion action's feed URL (no API token).

A scheduler (Google Ads' scheduled imports, cron with curl) fetches the action's new
conversions as the platform's upload file (:mod:`attribution.conversion_feeds`); the
secret in the URL is the only credential, so an unknown or revoked token is a 404 that
says nothing more. Each fetch is recorded: the next one gives only calls that came since.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from attribution import conversion_feeds
from attribution.upload_policy import UploadPolicy
from backend.downloads import file_download
from backend.errors import ApiError
from pool.store import now_ms

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


async def feed(request: Request) -> Response:
    """The feed's new conversions (404 for a token that is not a live feed's)."""
    token = request.path_params["token"]
    if not _TOKEN.fullmatch(token):
        raise ApiError(404, "not_found", "No such feed.")
    settings = request.app.state.settings
    file = await conversion_feeds.fetch_feed(
        request.app.state.db,
        token,
        now_ms=now_ms(),
        policy=UploadPolicy(min_confidence=settings.upload_min_confidence),
    )
    if file is None:
        raise ApiError(404, "not_found", "No such feed.")
    return file_download(
        file, {"X-Callpath-Conversions": str(file.count), "Cache-Control": "no-store"}
    )


routes = [Route("/feeds/conversions/{token}.csv", feed, methods=["GET"])]
