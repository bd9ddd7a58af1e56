"""The snippet's endpoints: ``POST /v1/session`` and ``POST /v1/heartbeat``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from attribution.tokens import SESSION_TOKEN, Signer
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from pool import leases
from pool.numbers import formats
from pool.store import Store, now_ms

CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=CORS)


async def session(request: Request) -> Response:
    """Record a page view of a visit and lease it a number for each target of the site."""
    settings = request.app.state.settings
    db: Store = request.app.state.db
    data = await read_json_object(request, settings.max_body_bytes)
    site_key = string_field(data, "site", max_len=64, required=True)
    url = string_field(data, "url", max_len=2048, required=True)
    referrer = string_field(data, "referrer", max_len=2048)
    title = string_field(data, "title", max_len=512)
    token = string_field(data, "token", max_len=512)
    site = await db.fetchone("SELECT id FROM sites WHERE site_key = :k", {"k": site_key})
    if site is None:
        raise ApiError(404, "unknown_site", f"No site has the key {site_key!r}.")
    signer = Signer(settings.secret_key, SESSION_TOKEN)
    now = now_ms()
    session_id = await _known_session(db, signer.read(token), site["id"])
    async with db.write() as tx:
        if session_id is None:
            session_id = await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms, user_agent,"
                " landing_url, referrer) VALUES (:s, :t, :t, :ua, :u, :r) RETURNING id",
                {
                    "s": site["id"],
                    "t": now,
                    "ua": request.headers.get("user-agent", "")[:512],
                    "u": url,
                    "r": referrer,
                },
            )
        else:
            await tx.execute(
                "UPDATE sessions SET last_seen_ms = :t WHERE id = :id", {"t": now, "id": session_id}
            )
        await tx.execute(
            "INSERT INTO page_views (session_id, ts_ms, url, title, referrer)"
            " VALUES (:s, :t, :u, :ti, :r)",
            {"s": session_id, "t": now, "u": url, "ti": title, "r": referrer},
        )
    assert session_id is not None
    swaps = []
    ttl_ms = 0
    pools = await db.fetchall(
        "SELECT p.id, t.number AS target FROM pools p JOIN targets t ON t.id = p.target_id"
        " WHERE p.site_id = :s ORDER BY p.id",
        {"s": site["id"]},
    )
    for pool in pools:
        lease = await leases.acquire(db, pool_id=pool["id"], session_id=session_id, now_ms=now)
        if lease is None:
            continue
        ttl_ms = max(ttl_ms, lease.expires_ms - now)
        f = formats(lease.number)
        swaps.append(
            {
                "target": pool["target"],
                "number": f.e164,
                "national": f.national,
                "international": f.international,
            }
        )
    return _json(
        {
            "token": signer.sign(session_id),
            "swaps": swaps,
            "ttl": ttl_ms // 1000,
            "heartbeat": settings.heartbeat_seconds,
        }
    )


async def _known_session(db: Store, value: object, site_id: int) -> int | None:
    if not isinstance(value, int):
        return None
    row = await db.fetchone(
        "SELECT id FROM sessions WHERE id = :id AND site_id = :s", {"id": value, "s": site_id}
    )
    return None if row is None else int(row["id"])


async def heartbeat(request: Request) -> Response:
    """Keep the session's live leases; 410 when none is left (the snippet asks again)."""
    settings = request.app.state.settings
    db: Store = request.app.state.db
    data = await read_json_object(request, settings.max_body_bytes)
    token = string_field(data, "token", max_len=512, required=True)
    session_id = Signer(settings.secret_key, SESSION_TOKEN).read(token)
    if not isinstance(session_id, int):
        raise ApiError(400, "bad_token", "The token is not one this server issued.")
    now = now_ms()
    live = await db.fetchall(
        "SELECT id FROM leases WHERE session_id = :s AND ended_ms IS NULL AND overflow = 0",
        {"s": session_id},
    )
    ttl_ms = 0
    for row in live:
        expires = await leases.heartbeat(db, lease_id=row["id"], now_ms=now)
        if expires is not None:
            ttl_ms = max(ttl_ms, expires - now)
    if ttl_ms == 0:
        return _json(
            {"error": {"code": "gone", "message": "The lease has ended.", "status": 410}}, 410
        )
    return _json({"ttl": ttl_ms // 1000})


async def preflight(request: Request) -> Response:
    """CORS preflight for clients that send application/json."""
    return Response(
        status_code=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


routes = [
    Route("/v1/session", session, methods=["POST"]),
    Route("/v1/heartbeat", heartbeat, methods=["POST"]),
    Route("/v1/session", preflight, methods=["OPTIONS"]),
    Route("/v1/heartbeat", preflight, methods=["OPTIONS"]),
]
