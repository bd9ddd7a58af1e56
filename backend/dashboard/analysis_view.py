"""Call analysis settings of an advertiser (issue #22): the transcript rules (phrases that
suggest an outcome and add a tag: list, add, edit, retire), how long recordings are kept,
and who may hear them.

``/dashboard/settings/analysis`` lists the advertisers an administrator may pick (a member
goes straight to their own); ``/dashboard/settings/analysis/{advertiser}`` is the page, and
its forms post under it. A refused form comes back on that page with the reason by its
field (:class:`backend.dashboard.forms.FormError`). The same rules and period are served
over the API (``/api/transcript_rules``, ``/api/recording_retention``).
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import call_work as cw
from attribution import transcripts
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.web import (
    db_of,
    owned,
    page,
    path_id,
    redirect,
    render,
    visible_advertisers,
)
from backend.recordings import retention
from pool.store import now_ms

BASE = "/dashboard/settings/analysis"
# A refused rule's field and the words the form shows by it.
_RULE_ERRORS = {
    "phrase": N_("analysis.error.phrase"),
    "tag": N_("analysis.error.tag"),
    "outcome_id": N_("analysis.error.outcome"),
}


@page()
async def analysis_index(request: Request, viewer: Viewer) -> Response:
    """A member's own advertiser's page; for an administrator, the advertisers to pick."""
    if viewer.advertiser_id is not None:
        return redirect(f"{BASE}/{viewer.advertiser_id}")
    choices = await visible_advertisers(db_of(request), viewer)
    return render(request, viewer, "analysis.html", {"advertisers": choices})


@page()
async def analysis_page(request: Request, viewer: Viewer) -> Response:
    """The advertiser's rules, retention period and the people who may hear recordings."""
    db = db_of(request)
    advertiser = await owned(db, viewer, "advertisers", path_id(request))
    listeners = await db.fetchall(
        "SELECT email, role FROM users WHERE disabled_ms IS NULL AND (role = 'admin'"
        " OR (advertiser_id = :a AND can_hear_recordings = 1)) ORDER BY role, email",
        {"a": advertiser["id"]},
    )
    return render(
        request,
        viewer,
        "analysis.html",
        {
            "advertiser": advertiser,
            "rules": await transcripts.rules(db, advertiser["id"]),
            "outcomes": await cw.outcomes(db, advertiser["id"]),
            "days": advertiser["recording_retention_days"],
            "max_days": retention.MAX_DAYS,
            "phrase_max": transcripts.PHRASE_MAX,
            "tag_max": cw.TAG_MAX,
            "listeners": listeners,
        },
    )


def _outcome(raw: str) -> int | None:
    """The outcome chosen in a rule's form ('' : none)."""
    if raw == "":
        return None
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise transcripts.RuleError("outcome_id", "outcome_id must be an outcome's id")
    return int(raw)


async def _advertiser(request: Request, viewer: Viewer) -> int:
    return int((await owned(db_of(request), viewer, "advertisers", path_id(request)))["id"])


@page()
async def add_rule(request: Request, viewer: Viewer) -> Response:
    """A new rule at the end of the advertiser's list."""
    return await _save_rule(request, viewer, None)


@page()
async def edit_rule(request: Request, viewer: Viewer) -> Response:
    """Change a rule's phrase, outcome or tag (404 for a rule not in force here)."""
    return await _save_rule(request, viewer, path_id(request, "rule"))


async def _save_rule(request: Request, viewer: Viewer, rule: int | None) -> Response:
    """Add (``rule`` None) or change a rule from the posted form; back to the list."""
    advertiser = await _advertiser(request, viewer)
    form = request.state.form
    try:
        async with db_of(request).write() as tx:
            fields = {
                "phrase": form.get("phrase", ""),
                "outcome_id": _outcome(form.get("outcome_id", "")),
                "tag": form.get("tag", ""),
            }
            if rule is None:
                await transcripts.add_rule(tx, advertiser_id=advertiser, now_ms=now_ms(), **fields)
            elif not await transcripts.edit_rule(
                tx, advertiser_id=advertiser, rule_id=rule, **fields
            ):
                raise HTTPException(404, "Not found.")
    except transcripts.RuleError as exc:
        raise _refused(exc, advertiser) from exc
    return redirect(f"{BASE}/{advertiser}#rules")


def _refused(exc: transcripts.RuleError, advertiser: int) -> FormError:
    """The rule's form again on the advertiser's page (an edit's folded form opens)."""
    return FormError(
        exc.field,
        _RULE_ERRORS.get(exc.field, N_("form.required")),
        page=f"{BASE}/{advertiser}",
        max=transcripts.PHRASE_MAX if exc.field == "phrase" else cw.TAG_MAX,
    )


@page()
async def retire_rule(request: Request, viewer: Viewer) -> Response:
    """Stop a rule: calls it already marked keep their outcome and tags."""
    advertiser = await _advertiser(request, viewer)
    async with db_of(request).write() as tx:
        done = await transcripts.retire_rule(
            tx, advertiser_id=advertiser, rule_id=path_id(request, "rule"), now_ms=now_ms()
        )
    if not done:
        raise HTTPException(404, "Not found.")
    return redirect(f"{BASE}/{advertiser}#rules")


@page()
async def set_retention(request: Request, viewer: Viewer) -> Response:
    """How many days recordings are kept after the call (0: kept)."""
    advertiser = await _advertiser(request, viewer)
    raw = request.state.form.get("days", "").strip()
    days = int(raw) if re.fullmatch(r"[0-9]{1,5}", raw) else -1
    if not retention.valid_days(days):
        raise FormError(
            "days", N_("analysis.error.days"), page=f"{BASE}/{advertiser}", max=retention.MAX_DAYS
        )
    await retention.set_retention(db_of(request), advertiser, days)
    return redirect(f"{BASE}/{advertiser}#retention")
