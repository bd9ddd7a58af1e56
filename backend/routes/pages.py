"""Health check and the example pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from backend.dashboard.logins import COOKIE, viewer_for
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
    """The root: signed-in users go to the dashboard, newcomers to the example pages."""
    viewer = await viewer_for(
        request.app.state.db,
        request.app.state.settings.secret_key,
        request.cookies.get(COOKIE, ""),
    )
    return RedirectResponse("/dashboard" if viewer else "/examples/", status_code=302)


health_routes = [Route("/healthz", healthz, methods=["GET"])]
routes = [*health_routes, Route("/", home, methods=["GET"])]
