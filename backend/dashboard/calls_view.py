"""The call log, one call with its click path, and the live incoming-call screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from attribution import call_work
from attribution.billing import disputes as billing_disputes
from attribution.csv_encoding import CSV_ENCODINGS
from attribution.exports import FORMATS, FORMS, candidate_ids, stream_paths
from attribution.report_tables import TARGET_LABEL_SQL
from attribution.touch import TOUCH_FIELDS
from attribution.touch import click_ids as touch_click_ids
from backend.dashboard import fmt, i18n
from backend.dashboard.call_filters import (
    export_filter,
    filter_choices,
    log_page,
    log_where,
    read_call_filters,
)
from backend.dashboard.filters import read_filters
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, int_param, owned_at, page, render
from backend.downloads import download
from backend.recordings import links as recording_links
from backend.services import services
from pool.scope import Scope
from pool.store import Row, Store, now_ms

_CALL_COLUMNS = (
    "c.id, c.started_ms, c.answered_ms, c.ended_ms, c.caller, c.tracking_number, c.status,"
    " c.talk_s, c.duration_s, c.qualified, c.first_time, c.recording_url, c.match_method,"
    " c.match_candidates, c.match_confidence, c.match_reason, c.session_id, c.site_id,"
    " c.updated_ms, c.code_digits, c.code_kind,"
    # The touch frozen on the call, not its session's latest one.
    " c.touch_channel AS channel, c.touch_source AS source, c.touch_campaign AS campaign,"
    " c.touch_keyword AS keyword, s.device, si.name AS site_name, si.timezone,"
    # The branch: the business number (target) whose pool holds the tracking number (the
    # answer-rate report groups by the same expression).
    f" {TARGET_LABEL_SQL} AS target_label"
)
_CALL_FROM = (
    " FROM calls c LEFT JOIN sessions s ON s.id = c.session_id"
    " LEFT JOIN sites si ON si.id = c.site_id"
)


def _scope(scope: Scope, params: dict[str, Any]) -> str:
    """The condition keeping calls ``c`` within ``scope`` (its parameters into ``params``)."""
    where, scope_params = scope.call_condition("c")
    params.update(scope_params)
    return where


@page()
async def export_paths(request: Request, viewer: Viewer) -> Response:
    """The session-to-call paths of the calls the filters select, as a download.

    The same export as ``GET /api/exports/paths`` (:func:`attribution.exports.stream_paths`,
    streamed with constant memory): ``form`` wide (a row per call) or long (a row per page
    view), ``format`` csv or ndjson, and the call log's filters (``qualified=yes``…). Within the
    viewer's advertisers; caller numbers masked unless the viewer may see them.
    """
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    q = request.query_params
    form = q.get("form", "wide")
    fmt = q.get("format", "csv")
    encoding = q.get("encoding", "utf-8")
    if form not in FORMS or fmt not in FORMATS or encoding not in CSV_ENCODINGS:
        raise HTTPException(400, "Unknown export form, format or encoding.")
    # Every filter of the log, its call filters and search included (call_filters.py).
    flt = export_filter(f, read_call_filters(request, viewer))
    body = stream_paths(db, flt, fmt=fmt, form=form, show_callers=viewer.can_see_callers)
    stem = f"callpath-paths-{f.first.isoformat()}-{f.last.isoformat()}-{form}"
    return await download(body, stem=stem, fmt=fmt, encoding=encoding)


@page()
async def calls_page(request: Request, viewer: Viewer) -> Response:
    """Calls newest first, 50 a page, filtered and searched (call_filters.py), with links to
    newer and older pages and the count of matching calls."""
    db = db_of(request)
    f = await read_filters(request, db, viewer)
    cf = read_call_filters(request, viewer)
    where, params = log_where(f, cf, db.dialect)

    def link(**cursor: Any) -> str:
        return f.query(**{**cf.params(), **cursor})

    found = await log_page(request, db, f"SELECT {_CALL_COLUMNS}{_CALL_FROM}", where, params, link)
    return render(
        request,
        viewer,
        "calls.html",
        {
            "f": f,
            "tz": f.tz,
            "calls": found.rows,
            "log": found,
            "cf": cf,
            "link": link,
            "call_filters": await filter_choices(
                db, f, cf, i18n.translator(i18n.choose(request, viewer))
            ),
            "drill": f.drill,
            "drills": f.drills,
        },
    )


@page()
async def call_page(request: Request, viewer: Viewer) -> Response:
    """One call: what happened, the visit it was matched to with its path of pages, what
    people set on it (verdict, tags, note, outcome, value, with their history) and the
    caller's other calls."""
    return render(request, viewer, "call.html", await call_context(request, viewer))


async def call_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """Everything the call page shows (404 for a call the viewer may not see)."""
    db, call = await owned_at(request, viewer, "calls")
    site = None
    if call["site_id"] is not None:
        site = await db.fetchone(
            "SELECT id, name, timezone FROM sites WHERE id = :s", {"s": call["site_id"]}
        )
    tz = site["timezone"] if site else "Asia/Tokyo"
    session = None
    views: list[Row] = []
    if call["session_id"] is not None:
        session = await db.fetchone(
            "SELECT * FROM sessions WHERE id = :s", {"s": call["session_id"]}
        )
        views = await db.fetchall(
            "SELECT ts_ms, url, title, referrer FROM page_views WHERE session_id = :s"
            " ORDER BY ts_ms, id LIMIT 500",
            {"s": call["session_id"]},
        )
    events = await db.fetchall(
        "SELECT ts_ms, kind FROM call_events WHERE call_id = :c ORDER BY ts_ms, id LIMIT 100",
        {"c": call["id"]},
    )
    number = await db.fetchone(
        "SELECT n.kind, n.source_label, p.name AS pool_name FROM tracking_numbers n"
        " LEFT JOIN pools p ON p.id = n.pool_id WHERE n.id = :n",
        {"n": call["number_id"]},
    )
    candidates = candidate_ids(call["match_candidate_ids"])
    if session is not None:
        # Source, campaign, keyword, click ids and landing page: the touch that led to the
        # call, frozen on it when it was matched (the session may have moved on since).
        session = {**session, **{f: call[f"touch_{f}"] for f in TOUCH_FIELDS}}
    # Every registered platform's click id (``attribution.platforms``), then GA's client id.
    click_ids = touch_click_ids(session) if session else {}
    if session and session["ga_client_id"]:
        click_ids["ga_client_id"] = session["ga_client_id"]
    work = await call_work.read_work(db, call["id"])
    # Its way through its call flow (issue #18): steps, phones tried, menu, queue, voicemail.
    journey = await db.fetchall(
        "SELECT ts_ms, step, what, destination, detail, wait_s FROM call_journey"
        " WHERE call_id = :c ORDER BY id LIMIT 200",
        {"c": call["id"]},
    )
    outcomes = await call_work.outcomes(db, call["adv"], with_retired=True)
    # The caller's other calls (shown without the number to viewers who may not see it).
    history = await call_work.caller_history(
        db, call_id=call["id"], advertiser_id=call["adv"], caller=call["caller"]
    )
    # Recordings kept by callpath, with links valid a few minutes: only for a viewer with
    # the right to hear them (the others are told there is one).
    recordings: list[dict[str, Any]] = []
    if viewer.can_hear_recordings:
        recordings = await recording_links.for_call(
            db,
            services(request).recording_links,
            call["id"],
            now_ms=now_ms(),
            life_ms=request.app.state.settings.recording_link_seconds * 1000,
        )
    kept = await db.fetchval(
        "SELECT COUNT(*) FROM recordings WHERE call_id = :c AND status = 'stored'",
        {"c": call["id"]},
    )
    return {
        "call": call,
        "site": site,
        "tz": tz,
        "session": session,
        "views": views,
        "events": events,
        "journey": journey,
        "number": number,
        "click_ids": click_ids,
        "candidates": candidates,
        "work": work,
        "outcomes": outcomes,
        "outcome_names": {o["id"]: o["label"] for o in outcomes},
        "history": history,
        "disputes": await billing_disputes.disputes(db, viewer.scope, call_id=call["id"]),
        "recordings": recordings,
        "recordings_withheld": bool(kept) and not viewer.can_hear_recordings,
    }


@page()
async def live_page(request: Request, viewer: Viewer) -> Response:
    """The incoming-call screen: latest calls, new ones pushed by the event stream."""
    db = db_of(request)
    params: dict[str, Any] = {}
    where = _scope(viewer.scope, params)
    rows = await db.fetchall(
        f"SELECT {_CALL_COLUMNS}{_CALL_FROM} WHERE {where}"
        " ORDER BY c.started_ms DESC, c.id DESC LIMIT 20",
        params,
    )
    # The stream resumes after the newest id in scope, whatever the times of shown calls.
    cursor = int(
        await db.fetchval(f"SELECT COALESCE(MAX(c.id), 0) FROM calls c WHERE {where}", params)
    )
    return render(
        request, viewer, "live.html", {"calls": rows, "cursor": cursor, "tz": "Asia/Tokyo"}
    )


def live_item(row: Row, viewer: Viewer, t: Callable[[str], str]) -> dict[str, Any]:
    """A call as the live screen shows it: every field already formatted and translated."""
    tz = row["timezone"] or "Asia/Tokyo"
    return {
        "id": row["id"],
        "url": f"/dashboard/calls/{row['id']}",
        "time": fmt.when(row["started_ms"], tz, with_seconds=True),
        "caller": fmt.caller(row["caller"], viewer.can_see_callers),
        "tracking": fmt.phone(row["tracking_number"]),
        "target": row["target_label"] or "",
        "site": row["site_name"] or "",
        "status": i18n.label(t, "status", row["status"]),
        "state": row["status"],
        "talk": fmt.duration(row["talk_s"]),
        "source": row["source"] or t("none"),
        "keyword": row["keyword"] or "",
        "matched": i18n.label(t, "match", row["match_method"]),
        "method": row["match_method"],
        "confidence": i18n.label(t, "confidence", row["match_confidence"])
        if row["match_confidence"]
        else "",
        "level": row["match_confidence"],
        "recording": fmt.link(row["recording_url"]),
        "qualified": bool(row["qualified"]),
    }


async def _events(
    db: Store,
    viewer: Viewer,
    t: Callable[[str], str],
    cursor: int,
    poll_s: float,
    lifetime_s: float,
    is_disconnected: Callable[[], Any],
) -> AsyncIterator[bytes]:
    """New calls after ``cursor`` (event ``call``) and changes to shown ones (``update``)."""
    params: dict[str, Any] = {}
    scope = _scope(viewer.scope, params)
    # Changes are found by updated_ms; look a little back so a write in flight is not missed.
    since = int(time.time() * 1000) - 5_000
    deadline = time.monotonic() + lifetime_s
    last_beat = time.monotonic()
    yield b"retry: 2000\n\n"
    while time.monotonic() < deadline:
        if await is_disconnected():
            return
        fresh = await db.fetchall(
            f"SELECT {_CALL_COLUMNS}{_CALL_FROM} WHERE {scope} AND c.id > :cur"
            " ORDER BY c.id LIMIT 50",
            {**params, "cur": cursor},
        )
        for row in fresh:
            cursor = max(cursor, int(row["id"]))
            data = orjson.dumps(live_item(row, viewer, t)).decode()
            yield f"id: {cursor}\nevent: call\ndata: {data}\n\n".encode()
        now = int(time.time() * 1000)
        changed = await db.fetchall(
            f"SELECT {_CALL_COLUMNS}{_CALL_FROM} WHERE {scope} AND c.updated_ms > :since"
            " AND c.id <= :cur ORDER BY c.updated_ms LIMIT 50",
            {**params, "since": since, "cur": cursor},
        )
        for row in changed:
            data = orjson.dumps(live_item(row, viewer, t)).decode()
            yield f"event: update\ndata: {data}\n\n".encode()
        since = max(since, now - 5_000)
        if time.monotonic() - last_beat > 15:
            last_beat = time.monotonic()
            yield b": keep-alive\n\n"
        await asyncio.sleep(poll_s)


@page()
async def live_stream(request: Request, viewer: Viewer) -> Response:
    """``text/event-stream`` of new calls, resuming after ``Last-Event-ID`` or ``?after=``."""
    settings = request.app.state.settings
    resume = request.headers.get("last-event-id") or request.query_params.get("after")
    cursor = int_param(resume, "after")
    if cursor is None:
        cursor = int(await db_of(request).fetchval("SELECT COALESCE(MAX(id), 0) FROM calls"))
    t = i18n.translator(i18n.choose(request, viewer))
    body = _events(
        db_of(request),
        viewer,
        t,
        cursor,
        settings.dashboard_poll_ms / 1000,
        settings.dashboard_stream_seconds,
        request.is_disconnected,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
