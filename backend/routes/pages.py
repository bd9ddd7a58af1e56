"""The root."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from backend.dashboard.logins import COOKIE, viewer_for
from backend.dashboard.web import needs_setup


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


routes = [Route("/", home, methods=["GET"])]
