"""Health check and the example pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from pool.store import Store


async def healthz(request: Request) -> Response:
    """Liveness and storage reachability, for load balancers."""
    db: Store = request.app.state.db
    try:
        await db.fetchval("SELECT 1")
    except Exception as exc:  # storage down is exactly what this reports
        return JSONResponse({"ok": False, "storage": str(exc)[:200]}, status_code=503)
    return JSONResponse({"ok": True})


async def home(request: Request) -> Response:
    """The root sends newcomers to the example pages."""
    return RedirectResponse("/examples/", status_code=302)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/", home, methods=["GET"]),
]
