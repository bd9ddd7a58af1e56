"""Call events storage refused (dead letters), for administrators."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, page, render
from backend.telephony import deadletter


@page(admin=True)
async def dead_letters_page(request: Request, viewer: Viewer) -> Response:
    """How many call events were set aside, and the newest of them with their error."""
    db = db_of(request)
    return render(
        request,
        viewer,
        "dead_letters.html",
        {"count": await deadletter.count(db), "letters": await deadletter.recent(db)},
    )
