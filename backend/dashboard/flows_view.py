"""The call-flow page of a business number (target): a form per step, versions, rollback.

Each form edits one step (fields by its type) or the flow around it (add a step, choose
the first, remove a step); every change is checked by ``backend.telephony.flowdoc`` and
stored as a new version by ``backend.telephony.flowstore`` (the same as the API and the
CLI), so a refused change comes back with the step's own reason by the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import flow_reports
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, owned_at, page, redirect, render
from backend.telephony import flowdoc, flowstore
from backend.telephony.service import telephony_of
from pool.store import Store, now_ms

_STEP_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
_SPAN = re.compile(r"^\s*([0-9]{1,2}:[0-9]{2})\s*[-~〜]\s*([0-9]{1,2}:[0-9]{2})\s*$")
# Form fields that name a step (a select of the flow's steps; '' hangs up).
BRANCH_FIELDS = {
    "schedule": ("open", "closed", "holiday"),
    "ring": ("no_answer", "busy"),
    "menu": ("default",),
    "queue": ("no_answer",),
    "message": ("next",),
    "voicemail": ("next",),
    "sms": ("next",),
    "hangup": (),
}


_WHICH = re.compile(r"^(?:n-([0-9]{1,18})|s-((?:[0-9a-f]{2}){1,200}))$")


def _url(target_id: int, which: str = "") -> str:
    """The page of one of the target's flows (``which``: see :func:`_which_of`)."""
    return f"/dashboard/settings/targets/{target_id}/flow" + (f"/{which}" if which else "")


def _which_of(flow_scope: dict[str, Any]) -> str:
    """The path segment of a flow for a tracking number (``n-<id>``) or a source
    (``s-<label in hex>``: any label, ASCII in the address); '' for the target's own."""
    if flow_scope.get("number_id") is not None:
        return f"n-{flow_scope['number_id']}"
    source = flow_scope.get("source") or ""
    return f"s-{source.encode().hex()}" if source else ""


async def _scope_of(request: Request, db: Store) -> tuple[str, dict[str, str]]:
    """The flow a page's address names: (its segment, ``number`` / ``source`` for the
    store); 404 when it names nothing."""
    which = request.path_params.get("which", "")
    if not which:
        return "", {}
    found = _WHICH.match(which)
    if found is None:
        raise HTTPException(404, "No such flow.")
    if found[1]:
        number = await db.fetchval(
            "SELECT number FROM tracking_numbers WHERE id = :n", {"n": int(found[1])}
        )
        if number is None:
            raise HTTPException(404, "No such tracking number.")
        return which, {"number": str(number)}
    try:
        source = bytes.fromhex(found[2]).decode()
    except UnicodeDecodeError:
        raise HTTPException(404, "No such source.") from None
    return which, {"source": source}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def _number_field(form: Mapping[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise FormError(name, N_("flowed.error.whole_number"))
    return int(raw)


def _prompts(form: Mapping[str, str], name: str) -> list[dict[str, str]]:
    """One prompt per line: an https URL is played, anything else said."""
    language = form.get(f"{name}_language", "")
    voice = form.get(f"{name}_voice", "").strip()
    out: list[dict[str, str]] = []
    for line in _lines(form.get(name, ""))[:5]:
        if line.startswith("https://"):
            out.append({"play": line})
        elif re.fullmatch(r"audio:[0-9]{1,12}", line):
            out.append({"audio": int(line[6:])})  # an uploaded file (POST /api/audio)
        else:
            item = {"say": line}
            if language:
                item["language"] = language
            if voice:
                item["voice"] = voice
            out.append(item)
    return out


def _destinations(form: Mapping[str, str]) -> list[Any]:
    """One phone per line: the number, then optionally its seconds to ring."""
    out: list[Any] = []
    for line in _lines(form.get("destinations", ""))[:10]:
        parts = re.split(r"[\s,、]+", line)
        if len(parts) > 1 and parts[-1].isdigit() and len(parts[-1]) <= 3:
            out.append({"number": " ".join(parts[:-1]), "timeout_s": int(parts[-1])})
        else:
            out.append(line)
    return out


def step_from_form(kind: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The step a form describes (checked afterwards with the whole flow)."""
    step: dict[str, Any] = {"type": kind}
    for name in BRANCH_FIELDS.get(kind, ()):
        step[name] = form.get(name, "")
    for name in ("timeout_s", "retries", "max_wait_s", "retry_every_s", "max_length_s"):
        value = _number_field(form, name)
        if value is not None:
            step[name] = value
    if kind == "schedule":
        hours: dict[str, list[list[str]]] = {}
        for day in flowdoc.WEEKDAYS:
            spans = [s for s in re.split(r"[,、]", form.get(f"hours_{day}", "")) if s.strip()]
            for span in spans:
                found = _SPAN.match(span)
                if not found:
                    raise FormError(f"hours_{day}", N_("flowed.error.hours"))
                hours.setdefault(day, []).append([f"{found[1]:0>5}", f"{found[2]:0>5}"])
        step["hours"] = hours
        step["holidays"] = "JP" if form.get("holidays") else ""
        step["closed_days"] = _lines(form.get("closed_days", ""))
        if form.get("time_zone", "").strip():
            step["time_zone"] = form["time_zone"].strip()
    elif kind in ("ring", "queue"):
        step["destinations"] = _destinations(form)
        if kind == "ring":
            step["mode"] = form.get("mode", "simultaneous")
    if kind == "menu":
        choices: dict[str, str] = {}
        for line in _lines(form.get("choices", "")):
            key, _, target = line.partition("=")
            choices[key.strip()] = target.strip()
        step["choices"] = choices
        step["invalid_prompt"] = _prompts(form, "invalid_prompt")
    if kind in ("menu", "queue", "message", "voicemail"):
        step["prompt"] = _prompts(form, "prompt")
    if kind == "queue":
        step["hold_audio"] = form.get("hold_audio", "").strip()
        step["announce_position"] = bool(form.get("announce_position"))
    if kind == "voicemail":
        step["beep"] = bool(form.get("beep"))
    if kind == "sms":
        # To the caller, or to the staff phones listed (one a line).
        staff = _lines(form.get("to_numbers", ""))[: flowdoc.MAX_SMS_TO + 1]
        step["to"] = staff if form.get("to_kind") == "staff" else "caller"
        step["when"] = form.get("when", "always")
        step["template"] = form.get("template", "").replace("\r", "")
    return step


def _prompt_text(prompts: Any) -> tuple[str, str, str]:
    items = prompts if isinstance(prompts, list) else [prompts] if prompts else []
    lines = [
        f"audio:{i['audio']}" if i.get("audio") else i.get("play") or i.get("say", "")
        for i in items
    ]
    language = next((i["language"] for i in items if i.get("language")), "")
    voice = next((i["voice"] for i in items if i.get("voice")), "")
    return "\n".join(lines), language, voice


def form_of_step(step: dict[str, Any]) -> dict[str, Any]:
    """A stored step as its form shows it."""
    values: dict[str, Any] = dict(step)
    if "prompt" in step:
        values["prompt"], values["prompt_language"], values["prompt_voice"] = _prompt_text(
            step["prompt"]
        )
    if "invalid_prompt" in step:
        values["invalid_prompt"] = _prompt_text(step["invalid_prompt"])[0]
    for day, spans in step.get("hours", {}).items():
        values[f"hours_{day}"] = ", ".join(f"{a}-{b}" for a, b in spans)
    values["closed_days"] = "\n".join(step.get("closed_days", []))
    values["holidays"] = step.get("holidays", "JP") == "JP"
    dests = []
    for d in step.get("destinations", []):
        if isinstance(d, dict):
            dests.append(f"{d['number']} {d['timeout_s']}" if "timeout_s" in d else d["number"])
        else:
            dests.append(str(d))
    values["destinations"] = "\n".join(dests)
    values["choices"] = "\n".join(f"{k}={v}" for k, v in step.get("choices", {}).items())
    values.setdefault("beep", True)
    if step.get("type") == "sms":
        to = step.get("to", "caller")
        values["to_kind"] = "caller" if to == "caller" else "staff"
        values["to_numbers"] = "" if to == "caller" else "\n".join(map(str, to))
    return values


def _field_of(where: str) -> str:
    """The form field a flow error names (``steps.x.hours.mon[0]`` → ``hours_mon``)."""
    parts = where.split(".")[2:]
    if not parts:
        return "step_id"
    head = re.sub(r"\[.*$", "", parts[0])
    if head == "to":
        return "to_numbers"
    if head == "hours" and len(parts) > 1:
        return "hours_" + re.sub(r"\[.*$", "", parts[1])
    return head


async def _save(
    request: Request,
    viewer: Viewer,
    target_id: int,
    flow: dict[str, Any] | None,
    field: str,
    which: tuple[str, dict[str, str]] = ("", {}),
) -> Response:
    """Store ``flow`` as the next version (of the flow ``which`` names); a refusal goes
    back to ``field``."""
    url = _url(target_id, which[0])
    try:
        await flowstore.save(
            db_of(request),
            viewer.scope,
            target_id,
            flow,
            author=viewer.email,
            note="dashboard",
            **which[1],
        )
    except flowdoc.FlowError as exc:
        named = _field_of(exc.where) if exc.where.startswith("steps.") else field
        raise FormError(named, N_("flowed.error.refused"), page=url, text=str(exc)) from exc
    if getattr(request.app.state, "telephony", None) is not None:
        await telephony_of(request).table.load()
    return redirect(url)


def _on_page(url: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, a refused field shown on the flow's page."""
    try:
        return fn(*args)
    except FormError as exc:
        exc.page = exc.page or url
        raise


async def _current(
    db: Store, viewer: Viewer, target_id: int, which: dict[str, str]
) -> dict[str, Any]:
    try:
        found = await flowstore.current(db, viewer.scope, target_id, **which)
    except flowdoc.FlowError as exc:  # a number of another advertiser
        raise HTTPException(404, "No such flow.") from exc
    return (found or {}).get("flow") or {"schema": 1, "start": "", "steps": {}}


async def _open(request: Request, viewer: Viewer, target: dict[str, Any]) -> Response:
    """``?number=`` / ``?source=`` (the form that opens another flow): its page."""
    query = request.query_params
    number, source = query.get("number", "")[:40], query.get("source", "")[:100]
    page = _url(target["id"])
    try:
        db = db_of(request)
        full = await flowstore.target_of(db, viewer.scope, int(target["id"]))
        flow_scope = await flowstore.resolve_scope(db, full, number, source)
    except flowdoc.FlowError as exc:
        # Said in the viewer's language: both given, a source too long, or a number that is
        # not one of the advertiser's tracking numbers (or no phone number at all).
        if exc.where == "scope":
            raise FormError("number", N_("flowed.error.number_or_source"), page=page) from exc
        if exc.where == "source":
            raise FormError(
                "source", N_("flowed.error.source"), page=page, max=flowstore.MAX_SOURCE
            ) from exc
        raise FormError("number", N_("flowed.error.not_tracking"), page=page) from exc
    which = _which_of({"number_id": flow_scope.number_id, "source": flow_scope.source})
    return redirect(_url(target["id"], which))


@page()
async def flow_page(request: Request, viewer: Viewer) -> Response:
    """One of the target's flows (its own, a tracking number's or a source's): its steps
    as forms, the versions, roll back, the target's other flows."""
    db, target = await owned_at(request, viewer, "targets")
    if "number" in request.query_params or "source" in request.query_params:
        return await _open(request, viewer, target)
    which, named = await _scope_of(request, db)
    flow = await _current(db, viewer, target["id"], named)
    versions = await flowstore.history(db, viewer.scope, target["id"], **named)
    others = await flowstore.scoped(db, viewer.scope, target["id"])
    for other in others:
        other["url"] = _url(target["id"], _which_of(other))
    steps = [
        {"id": sid, "type": step.get("type", ""), "form": form_of_step(step)}
        for sid, step in flow["steps"].items()
    ]
    site = await db.fetchone(
        "SELECT id, name, advertiser_id FROM sites WHERE id = :s", {"s": target["site_id"]}
    )
    # How its calls fared in the last 30 days: per phone rung, per menu choice, in all.
    report = {}
    end = now_ms() + 1
    for dimension in flow_reports.DIMENSIONS:
        report[dimension] = await flow_reports.flow_report(
            db,
            advertiser_id=site["advertiser_id"],
            site_id=site["id"],
            start_ms=end - 30 * 86_400_000,
            end_ms=end,
            dimension=dimension,
            target=target["number"],
        )
    context = {
        "target": target,
        "site": site,
        "flow": flow,
        "steps": steps,
        "step_ids": list(flow["steps"]),
        "versions": versions,
        "kinds": flowdoc.STEP_TYPES,
        "modes": flowdoc.RING_MODES,
        "languages": flowdoc.LANGUAGES,
        "weekdays": flowdoc.WEEKDAYS,
        "sms_when": flowdoc.SMS_WHEN,
        "sms_fields": sorted(flowdoc.SMS_FIELDS),
        "branch_fields": BRANCH_FIELDS,
        "url": _url(target["id"], which),
        "own_url": _url(target["id"]),
        "named": named,
        "others": others,
        "report": report,
    }
    return render(request, viewer, "flow.html", context)


@page()
async def add_step(request: Request, viewer: Viewer) -> Response:
    """A new step of the chosen type (the first step of a new flow starts it)."""
    db, target = await owned_at(request, viewer, "targets")
    form = request.state.form
    kind = request.path_params.get("kind", "")
    if kind not in flowdoc.STEP_TYPES:
        raise HTTPException(404, "Unknown step type.")
    which = await _scope_of(request, db)
    url = _url(target["id"], which[0])
    step_id = form.get("step_id", "").strip()
    if not _STEP_ID.match(step_id):
        raise FormError("step_id", N_("flowed.error.step_id"), page=url)
    flow = await _current(db, viewer, target["id"], which[1])
    if step_id in flow["steps"]:
        raise FormError("step_id", N_("flowed.error.step_taken"), page=url)
    flow["steps"][step_id] = _on_page(url, step_from_form, kind, form)
    flow["start"] = flow["start"] or step_id
    return await _save(request, viewer, target["id"], flow, "step_id", which)


@page()
async def save_step(request: Request, viewer: Viewer) -> Response:
    """One step changed through its form (its type stays)."""
    db, target = await owned_at(request, viewer, "targets")
    step_id = request.path_params.get("step", "")
    which = await _scope_of(request, db)
    flow = await _current(db, viewer, target["id"], which[1])
    if step_id not in flow["steps"]:
        raise HTTPException(404, "No such step.")
    kind = flow["steps"][step_id]["type"]
    form = request.state.form
    if form.get("remove"):
        del flow["steps"][step_id]
        if not flow["steps"]:
            return await _save(request, viewer, target["id"], None, "step_id", which)
    else:
        url = _url(target["id"], which[0])
        flow["steps"][step_id] = _on_page(url, step_from_form, kind, form)
        if form.get("start"):
            flow["start"] = step_id
    return await _save(request, viewer, target["id"], flow, "step_id", which)


@page()
async def rollback(request: Request, viewer: Viewer) -> Response:
    """An earlier version in force again (as a new version)."""
    db, target = await owned_at(request, viewer, "targets")
    version = request.state.form.get("version", "")
    if not version.isdigit() or len(version) > 7:
        raise HTTPException(422, "Choose a version.")
    try:
        new = await flowstore.rollback(
            db, viewer.scope, target["id"], int(version), author=viewer.email
        )
    except LookupError as exc:
        raise HTTPException(404, "No such version.") from exc
    if getattr(request.app.state, "telephony", None) is not None:
        await telephony_of(request).table.load()
    # Back to the page of the flow the version belongs to.
    stored = await db.fetchone(
        "SELECT number_id, source FROM call_flows WHERE target_id = :t AND version = :v",
        {"t": target["id"], "v": new},
    )
    return redirect(_url(target["id"], _which_of(dict(stored or {}))))
