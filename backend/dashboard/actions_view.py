"""Conversion actions in the dashboard: list and add them, download their files and
adjustments, make and revoke feed URLs.

The same operations as ``/api/conversion-actions`` (:mod:`attribution.conversion_actions`),
within the viewer's sites; only the roles that may send conversions
(:func:`backend.dashboard.batches_view.may_send`) add actions, download files or make feeds.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import conversion_actions as ca
from attribution import conversion_adjustments as adj
from attribution import conversion_feeds as feeds
from attribution import platforms
from attribution.call_work import OUTCOME_KINDS
from attribution.upload_policy import UploadPolicy
from backend.dashboard.batches_view import may_send
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, int_param, page, path_id, redirect, render, visible_sites
from backend.downloads import file_download
from pool.store import now_ms

PAGE = "/dashboard/settings/conversions"
# The calls a dashboard download looks at: the click windows of the platforms (Google 90 days).
_WINDOW_MS = 90 * 86_400_000


def _sender(viewer: Viewer) -> None:
    if not may_send(viewer):
        raise HTTPException(403, "Your role may not send conversions.")


async def _page(request: Request, viewer: Viewer, **extra: object) -> Response:
    db = db_of(request)
    actions = await ca.list_actions(db, viewer.scope)
    action_feeds = {a.id: await feeds.list_feeds(db, a.id) for a in actions}
    return render(
        request,
        viewer,
        "conversions.html",
        {
            "actions": actions,
            "feeds": action_feeds,
            "sites": {s["id"]: s for s in await visible_sites(db, viewer)},
            "platform_labels": {p.key: p.label for p in platforms.platforms()},
            "file_platforms": [*platforms.file_platforms()],
            "kinds": OUTCOME_KINDS,
            "value_from": ca.VALUE_FROM,
            "may_send": may_send(viewer),
            **extra,
        },
    )


@page()
async def actions_page(request: Request, viewer: Viewer) -> Response:
    """Every action of the viewer's sites with its feeds, and the form to add one."""
    return await _page(request, viewer)


def _spec(form: dict[str, str]) -> ca.ActionSpec:
    talk = form.get("min_talk_s", "") or "0"
    if not (talk.isascii() and talk.isdigit() and len(talk) <= 6):
        raise FormError("min_talk_s", N_("form.refused"), page=PAGE)
    return ca.ActionSpec(
        platform=form.get("platform", ""),
        name=form.get("name", ""),
        qualified_only=form.get("qualified_only") == "1",
        first_time_only=form.get("first_time_only") == "1",
        min_talk_s=int(talk),
        outcome_kind=form.get("outcome_kind", ""),
        value_from=form.get("value_from", "fixed"),
        value=form.get("value", "") or "0",
        currency=form.get("currency", "") or "JPY",
    )


@page()
async def add_action(request: Request, viewer: Viewer) -> Response:
    """Add an action to one of the viewer's sites (the reason by the field when refused)."""
    _sender(viewer)
    form = request.state.form
    site_id = int_param(form.get("site"), "site")
    sites = {s["id"] for s in await visible_sites(db_of(request), viewer)}
    if site_id not in sites:
        raise FormError("site", N_("form.required"), page=PAGE)
    try:
        await ca.save_action(db_of(request), site_id=site_id, spec=_spec(form), now_ms=now_ms())
    except ca.ActionError as exc:
        raise FormError(exc.field, N_("form.refused"), page=PAGE, text=str(exc)) from exc
    return redirect(PAGE)


async def _action(request: Request, viewer: Viewer) -> ca.Action:
    _sender(viewer)
    action = await ca.get_action(db_of(request), path_id(request), viewer.scope)
    if action is None:
        raise HTTPException(404, "No such conversion action.")
    if action.platform not in platforms.file_platforms():
        raise HTTPException(422, "This platform takes no file: use the action's direct upload.")
    return action


@page()
async def export_action(request: Request, viewer: Viewer) -> Response:
    """The action's new conversions of the platform's window, recorded as a batch."""
    action = await _action(request, viewer)
    now = now_ms()
    settings = request.app.state.settings
    file = await ca.export_action(
        db_of(request),
        action,
        start_ms=now - _WINDOW_MS,
        end_ms=now + 1,
        now_ms=now,
        created_by=f"user {viewer.user_id} (dashboard)",
        policy=UploadPolicy(min_confidence=settings.upload_min_confidence),
    )
    return file_download(file)


@page()
async def adjust_action(request: Request, viewer: Viewer) -> Response:
    """The action's adjustment file (retractions and restatements not written yet)."""
    action = await _action(request, viewer)
    file = await adj.adjust_action(
        db_of(request), action, now_ms=now_ms(), created_by=f"user {viewer.user_id} (dashboard)"
    )
    return file_download(file)


@page()
async def new_feed(request: Request, viewer: Viewer) -> Response:
    """A new feed URL of the action, shown once on the page."""
    action = await _action(request, viewer)
    feed, token = await feeds.create_feed(
        db_of(request),
        action,
        label=request.state.form.get("label", "")[:100],
        by=f"user {viewer.user_id} (dashboard)",
        now_ms=now_ms(),
    )
    base = str(request.base_url).rstrip("/")
    return await _page(
        request, viewer, new_feed_url=f"{base}/feeds/conversions/{token}.csv", new_feed=feed.id
    )


@page()
async def revoke_feed(request: Request, viewer: Viewer) -> Response:
    """Revoke a feed of one of the viewer's actions."""
    _sender(viewer)
    done = await feeds.revoke_feed(db_of(request), path_id(request), viewer.scope, now_ms=now_ms())
    if done is None:
        raise HTTPException(404, "No such feed.")
    return redirect(PAGE)
