"""``GET /dni.js``: the snippet, with an ETag so browsers revalidate cheaply."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.assets import snippet_file


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> tuple[bytes, str]:
    with open(path, "rb") as fh:
        body = fh.read()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


async def dni_js(request: Request) -> Response:
    """Serve the snippet; compression comes from the app's GZip middleware."""
    path = snippet_file()
    body, etag = _load(str(path), path.stat().st_mtime_ns)
    headers = {
        "ETag": etag,
        # Short freshness so a new release reaches sites quickly; revalidation is cheap.
        "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
        "Access-Control-Allow-Origin": "*",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)


routes = [Route("/dni.js", dni_js, methods=["GET", "HEAD"])]
