"""Health check and the root."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from backend.dashboard.logins import COOKIE, viewer_for
from backend.dashboard.web import needs_setup
from pool.store import Store


async def healthz(request: Request) -> Response:
    """Liveness and storage reachability, for load balancers; with the call events this
    process has yet to write (``calls``: how many, and how long the oldest has waited)."""
    db: Store = request.app.state.db
    calls = _call_backlog(request)
    try:
        await db.fetchval("SELECT 1")
    except Exception as exc:  # storage down is exactly what this reports
        return JSONResponse({"ok": False, "storage": str(exc)[:200], **calls}, status_code=503)
    return JSONResponse({"ok": True, **calls})


def _call_backlog(request: Request) -> dict[str, Any]:
    telephony = getattr(request.app.state, "telephony", None)
    if telephony is None:
        return {}
    recorder = telephony.recorder
    return {
        "calls": {
            "backlog": recorder.pending,
            "oldest_age_ms": recorder.oldest_age_ms(),
            "dead_letters": recorder.dead_letters,
        }
    }


async def home(request: Request) -> Response:
    """The root is the dashboard: signed-in users go there, a fresh install (no user yet)
    to the one-time set-up page, everybody else to the sign-in form."""
    viewer = await viewer_for(
        request.app.state.db,
        request.app.state.settings.secret_key,
        request.cookies.get(COOKIE, ""),
    )
    if viewer is not None:
        target = "/dashboard"
    elif await needs_setup(request):
        target = "/setup"
    else:
        target = "/login"
    return RedirectResponse(target, status_code=302)


health_routes = [Route("/healthz", healthz, methods=["GET"])]
routes = [*health_routes, Route("/", home, methods=["GET"])]
