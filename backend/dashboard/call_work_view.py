"""Working a call from its page: the verdict, tags, note, outcome and value (issue #17), and
the advertiser's outcome list.

Members work their own advertiser's calls, administrators every call. A change the checks
refuse re-renders the call page with the message next to the field and what was typed kept
(422), never a bare error page.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import call_work as cw
from backend.dashboard import web
from backend.dashboard.calls_view import call_context
from backend.dashboard.logins import Viewer
from pool.store import now_ms


def actor(viewer: Viewer) -> str:
    """Who made a change, as the audit trail names dashboard users."""
    return f"user {viewer.user_id} (dashboard)"


def _changes(form: Any) -> cw.CallChanges:
    verdict = form.get("qualified", "keep")
    qualified: Any = cw.UNSET
    reason: Any = cw.UNSET
    if verdict in ("yes", "no"):
        qualified, reason = verdict == "yes", form.get("qualified_reason", "")
    elif verdict == "rules":
        qualified = None
    elif verdict != "keep":
        raise cw.WorkError("qualified", "unknown verdict")
    outcome = form.get("outcome_id", "")
    if outcome and not (outcome.isascii() and outcome.isdigit() and len(outcome) <= 18):
        raise cw.WorkError("outcome_id", "no such outcome for this advertiser")
    return cw.CallChanges(
        qualified=qualified,
        qualified_reason=reason,
        tags=form.get("tags", ""),
        note=form.get("note", ""),
        outcome_id=int(outcome) if outcome else None,
        value_yen=form.get("value_yen", ""),
    )


@web.page()
async def work_call(request: Request, viewer: Viewer) -> Response:
    """Save the call's verdict, tags, note, outcome and value; each change is audited."""
    db, call = await web.owned_at(request, viewer, "calls")
    form = request.state.form
    try:
        changes = _changes(form)
        async with db.write() as tx:
            await cw.work_call(
                tx, call_id=call["id"], changes=changes, actor=actor(viewer), now_ms=now_ms()
            )
    except cw.WorkError as exc:
        context = await call_context(request, viewer)
        context.update(work_error={"field": exc.field, "message": str(exc)}, typed=form)
        return web.render(request, viewer, "call.html", context, status=422)
    return web.redirect(f"/dashboard/calls/{call['id']}#work")


@web.page()
async def outcomes_page(request: Request, viewer: Viewer) -> Response:
    """The outcome list of the viewer's advertiser (administrators: ``?advertiser=``);
    POST adds one or retires one."""
    db = web.db_of(request)
    advertiser = viewer.advertiser_id
    if advertiser is None:
        raw = request.query_params.get("advertiser") or ""
        if not raw:  # an administrator picks the advertiser first
            choices = await web.visible_advertisers(db, viewer)
            return web.render(request, viewer, "outcomes.html", {"advertisers": choices})
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise HTTPException(404, "Not found.")
        advertiser = int((await web.owned(db, viewer, "advertisers", int(raw)))["id"])
    error = None
    typed: dict[str, str] = {}
    if request.method == "POST":
        form = request.state.form
        try:
            async with db.write() as tx:
                if form.get("retire"):
                    raw = form.get("retire", "")
                    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
                        raise HTTPException(404, "Not found.")
                    if not await cw.retire_outcome(
                        tx, advertiser_id=advertiser, outcome_id=int(raw), now_ms=now_ms()
                    ):
                        raise HTTPException(404, "Not found.")
                else:
                    await cw.add_outcome(
                        tx,
                        advertiser_id=advertiser,
                        label=form.get("label", ""),
                        kind=form.get("kind", ""),
                        now_ms=now_ms(),
                    )
        except cw.WorkError as exc:
            error = {"field": exc.field, "message": str(exc)}
            typed = dict(form)
        else:
            suffix = "" if viewer.advertiser_id is not None else f"?advertiser={advertiser}"
            return web.redirect("/dashboard/settings/outcomes" + suffix)
    return web.render(
        request,
        viewer,
        "outcomes.html",
        {
            "outcomes": await cw.outcomes(db, advertiser),
            "advertiser_id": advertiser,
            "kinds": cw.OUTCOME_KINDS,
            "advertiser_name": (await web.owned(db, viewer, "advertisers", advertiser))["name"],
            "error": error,
            "typed": typed,
        },
        status=422 if error else 200,
    )
