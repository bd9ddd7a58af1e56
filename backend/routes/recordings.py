"""``GET /recordings/{token}``: a recording's file at a short-lived signed link.

The link was made for someone allowed to hear the call's recordings
(:mod:`backend.recordings.links`); here only the token is checked (403 when forged or
expired), then the file is read from callpath's storage. Byte ranges are answered (206),
so a player can seek without the whole file. Never cached by a shared cache.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.errors import ApiError
from backend.recordings import links
from backend.services import services
from pool.store import Store, now_ms

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
TOKEN_MAX = 400


async def recording_file(request: Request) -> Response:
    """The recording's mp3 or original, whole or a byte range."""
    token = request.path_params["token"]
    link = (
        None
        if len(token) > TOKEN_MAX
        else links.read(services(request).recording_links, token, now_ms())
    )
    if link is None:
        raise ApiError(403, "forbidden", "This link is not valid (or no longer).")
    db: Store = request.app.state.db
    row = await db.fetchone(
        "SELECT id, call_id, original_key, original_type, mp3_key, source_sid"
        " FROM recordings WHERE id = :id AND status = 'stored'",
        {"id": link.recording_id},
    )
    storage = request.app.state.recordings.storage
    if row is None or storage is None:
        raise ApiError(404, "not_found", "No such recording.")
    key = row["mp3_key"] if link.file == "mp3" else row["original_key"]
    kind = "audio/mpeg" if link.file == "mp3" else row["original_type"]
    if not key:
        raise ApiError(404, "not_found", "No such recording file.")
    try:
        data = await storage.get(key)
    except FileNotFoundError as exc:
        raise ApiError(404, "not_found", "The recording's file is gone.") from exc
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
        "Content-Disposition": '{}; filename="call-{}-{}"'.format(
            "attachment" if link.download else "inline", row["call_id"], key.rsplit("/", 1)[-1]
        ),
    }
    wanted = _RANGE.fullmatch(request.headers.get("range", "").strip())
    if wanted and (wanted.group(1) or wanted.group(2)):
        size = len(data)
        if wanted.group(1):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)) if wanted.group(2) else size - 1, size - 1)
        else:  # the last N bytes
            start, end = max(0, size - int(wanted.group(2))), size - 1
        if start > end or start >= size:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(data[start : end + 1], 206, headers=headers, media_type=kind)
    return Response(data, headers=headers, media_type=kind)


routes = [Route("/recordings/{token}", recording_file, methods=["GET"])]
