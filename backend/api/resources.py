"""``/api/calls``, ``/api/sessions`` and ``/api/reports``: read-only, scoped, paginated."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution.call_search import (
    STATUSES,
    TEXT_MAX,
    CallQuery,
    parse_query,
    query_clause,
)
from attribution.exports import (
    candidate_ids,
    confidence_clause,
    iso_time,
    known_seconds,
    mask_caller,
)
from attribution.platforms import CLICK_ID_COLUMNS, unstored_click_ids
from attribution.touch import TOUCH_FIELDS, click_ids, select_touch
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import (
    P_CURSOR,
    P_LIMIT,
    P_MIN_CONFIDENCE,
    P_QUALIFIED,
    RANGE_PARAMS,
    bool_param,
    db_of,
    id_page,
    int_param,
    min_confidence,
    path_id,
    request_scope,
    time_range,
)
from backend.auth import ApiPrincipal
from backend.errors import ApiError

api = Endpoints(tags=["calls"])

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NINT = {"type": ["integer", "null"]}

# The touch that led to the call, frozen on it when it was matched: later touches of its
# session (the session resource shows the latest) never change it.
CALL_TOUCH: dict[str, Any] = {
    "type": "object",
    "description": "The touch that led to the call (source, campaign, keyword, click ids,"
    " landing page), frozen when the call was matched; empty without a session.",
    "required": [*TOUCH_FIELDS, "at_ms"],
    "properties": {
        **{name: _STR for name in (*TOUCH_FIELDS, *unstored_click_ids())},
        "at_ms": {**_NINT, "description": "When that touch happened, when known."},
    },
}
CALL_FIELDS: dict[str, Any] = {
    "id": _INT,
    "provider": _STR,
    "provider_call_id": {
        "type": "string",
        "description": "The carrier's own id of the call (Twilio's CallSid, the PBX's id).",
    },
    "advertiser_id": _NINT,
    "site_id": _NINT,
    "number_id": _NINT,
    "tracking_number": _STR,
    "caller": {"type": "string", "description": "Masked unless the token may see callers."},
    "forwarded_to": _STR,
    "started_ms": _INT,
    "started_at": {"type": "string", "description": "ISO 8601 in the site's time zone."},
    "answered_ms": _NINT,
    "ended_ms": _NINT,
    "status": _STR,
    "duration_s": {**_NINT, "description": "Null while not known (the call is not over)."},
    "talk_s": {**_NINT, "description": "Null while not known (no outcome reported yet)."},
    "session_id": _NINT,
    "lease_id": _NINT,
    "match_method": _STR,
    "match_candidates": _INT,
    "match_confidence": {
        "type": "string",
        "enum": ["exact", "high", "medium", "low", ""],
        "description": "How sure the match is; '' when the call has no session "
        "(docs/attribution.md).",
    },
    "match_reason": {"type": "string", "description": "The evidence that decided the match."},
    "match_candidate_ids": {
        "type": "array",
        "items": _INT,
        "description": "The sessions considered, the chosen one included.",
    },
    "code_digits": {
        "type": "string",
        "description": "Digits the caller dialled after the number (a visit or fixed code,"
        " docs/attribution.md#visit-codes); '' for none.",
    },
    "code_kind": {
        "type": "string",
        "enum": ["visit", "fixed", ""],
        "description": "What the digits named: a visit, an offline medium's fixed code, or"
        " nothing ('').",
    },
    "qualified": {"type": "boolean"},
    "first_time": {"type": "boolean"},
    "touch": CALL_TOUCH,
}
_SESSION_TEXT = [
    *"visitor_id landing_url referrer channel source medium campaign ad_group keyword".split(),
    *"match_type content".split(),
    *CLICK_ID_COLUMNS,
    *"ga_client_id device browser os country region city".split(),
]
SESSION_FIELDS: dict[str, Any] = {
    "id": _INT,
    "site_id": _INT,
    "started_ms": _INT,
    "last_seen_ms": _INT,
    **{name: _STR for name in _SESSION_TEXT},
}
CALL = oa.component(
    "Call",
    oa.record(CALL_FIELDS),
)
PAGE_VIEW = oa.component(
    "PageView",
    {
        "type": "object",
        "required": ["ts_ms", "url", "title", "referrer"],
        "properties": {"ts_ms": _INT, "url": _STR, "title": _STR, "referrer": _STR},
    },
)
SESSION = oa.component(
    "Session",
    oa.record(SESSION_FIELDS),
)
SESSION_DETAIL = oa.component(
    "SessionDetail",
    {
        "allOf": [
            SESSION,
            oa.list_of("page_views", PAGE_VIEW),
        ]
    },
)
CALL_DETAIL = oa.component(
    "CallDetail",
    {
        "allOf": [
            CALL,
            oa.wrapped("session", {"oneOf": [SESSION_DETAIL, {"type": "null"}]}),
        ]
    },
)


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    """A page schema of a list of items with a cursor to the next page."""
    return {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": oa.array(item),
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def _call_out(row: dict[str, Any], principal: ApiPrincipal) -> dict[str, Any]:
    out = {k: row[k] for k in CALL_FIELDS if k in row}
    out["qualified"] = bool(row["qualified"])
    out["first_time"] = bool(row["first_time"])
    out["started_at"] = iso_time(row["started_ms"], row.get("tz"))
    out["match_candidate_ids"] = candidate_ids(row["match_candidate_ids"])
    out["duration_s"], out["talk_s"] = known_seconds(row)
    out["touch"] = {name: row[name] for name in TOUCH_FIELDS}
    # Click ids of registered platforms without a column, read from the frozen landing URL.
    clicks = click_ids(row)
    out["touch"].update({p: clicks.get(p, "") for p in unstored_click_ids()})
    out["touch"]["at_ms"] = row["touch_ms"]
    if not principal.can_see_callers:
        out["caller"] = mask_caller(row["caller"])
    return out


_CALL_SELECT = (
    "SELECT c.id, c.provider, c.provider_call_id, c.advertiser_id, c.site_id, c.number_id,"
    " c.tracking_number, c.caller, c.forwarded_to, c.started_ms, c.answered_ms, c.ended_ms,"
    " c.status, c.duration_s, c.talk_s, c.session_id, c.lease_id, c.match_method,"
    " c.match_candidates, c.match_confidence, c.match_reason, c.match_candidate_ids,"
    " c.code_digits, c.code_kind, c.qualified, c.first_time, c.touch_ms, "
    + select_touch("c")
    + ", st.timezone AS tz FROM calls c"
    " LEFT JOIN sites st ON st.id = c.site_id"
)


def _scope_filters(
    request: Request, principal: ApiPrincipal, alias: str
) -> tuple[list[str], dict[str, Any]]:
    """WHERE clauses shared by the list endpoints: start-time range, the token's scope
    narrowed by ``advertiser_id`` / ``site_id``: the tenant rule of calls for ``c``, of
    sessions for ``s`` (:meth:`Scope.call_condition`, :meth:`Scope.session_condition`)."""
    start, end = time_range(request)
    clauses = [f"{alias}.started_ms >= :start", f"{alias}.started_ms < :end"]
    params: dict[str, Any] = {"start": start, "end": end}
    scope = request_scope(request, principal)
    if not scope.is_everything:
        rule = scope.call_condition if alias == "c" else scope.session_condition
        where, scope_params = rule(alias)
        clauses.append(where)
        params.update(scope_params)
    return clauses, params


_TEXT = {"type": "string", "maxLength": TEXT_MAX}
_FILTERS: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "status",
        {"type": "string", "enum": list(STATUSES)},
        "answered (someone picked up), missed (ended unanswered), ongoing (ringing or"
        " talking), blocked.",
    ),
    (
        "qualified_by_hand",
        {"type": "boolean"},
        "true: only verdicts a person set; false: only the site's rules' verdicts.",
    ),
    ("source", _TEXT, "Only calls whose touch has this source ('' : none)."),
    ("tag", _TEXT, "Only calls with this tag."),
    ("outcome_id", oa.ID, "Only calls with this outcome (/api/outcomes)."),
    (
        "caller",
        {"type": "string", "maxLength": 40},
        "Only calls from this number, in any format (03-1234-5678, +81312345678); read as"
        " national for Japan. 403 for a token that may not see callers.",
    ),
    (
        "q",
        _TEXT,
        "Search: the caller's number (whole, in any format, or 4 digits or more of it; not"
        " for tokens that may not see callers), the keyword of the call's touch, the note.",
    ),
    (
        "said",
        _TEXT,
        "Only calls whose transcript holds these words (width, case and kana folded;"
        " Japanese found by any part of two characters or more). 403 for a token that may"
        " not hear recordings.",
    ),
)
# The call log's filters (attribution.call_search), as the dashboard's.
CALL_FILTER_PARAMS = [oa.query_param(name, schema, doc) for name, schema, doc in _FILTERS]


def call_query(request: Request, principal: ApiPrincipal) -> CallQuery:
    """The call filters of the query string (422 naming a bad one; 403 for a caller filter
    from a token that may not see callers)."""
    q = request.query_params
    if q.get("caller") and not principal.can_see_callers:
        raise ApiError(403, "forbidden", "This token may not see callers' numbers.")
    if q.get("said") and not principal.can_hear_recordings:
        raise ApiError(403, "forbidden", "This token may not hear recordings.")
    qualified = bool_param(request, "qualified")
    by_hand = bool_param(request, "qualified_by_hand")
    query = parse_query(
        status=q.get("status"),
        qualified={True: "yes", False: "no", None: None}[qualified],
        source=q.get("source"),
        tag=q.get("tag"),
        outcome_id=int_param(request, "outcome_id"),
        caller=q.get("caller"),
        search=q.get("q"),
        said=q.get("said"),
    )
    query = replace(query, by_hand=by_hand)
    return query if principal.can_see_callers else query.without_numbers()


@api.get(
    "/api/calls",
    "List calls, newest first",
    params=[*RANGE_PARAMS, P_QUALIFIED, P_MIN_CONFIDENCE, *CALL_FILTER_PARAMS, P_LIMIT, P_CURSOR],
    ok="A page of calls",
    returns=page_of(CALL),
)
async def list_calls(request: Request, principal: ApiPrincipal) -> Response:
    """Calls in the token's scope, newest first, filtered by start time, site, confidence and
    the call log's filters: status, qualification, source, tag, outcome, caller, search."""
    clauses, params = _scope_filters(request, principal, "c")
    conf, conf_params = confidence_clause("c", min_confidence(request))
    if conf:
        clauses.append(conf.removeprefix(" AND "))
        params.update(conf_params)
    found, found_params = query_clause(call_query(request, principal), "c", db_of(request).dialect)
    if found:
        clauses.append(found.removeprefix(" AND "))
        params.update(found_params)
    return await _page(request, principal, "calls", _CALL_SELECT, clauses, params, "c.id")


async def _page(
    request: Request,
    principal: ApiPrincipal,
    kind: str,
    select: str,
    clauses: list[str],
    params: dict[str, Any],
    id_col: str,
) -> Response:
    paging = id_page(request, kind)
    if paging.before_id is not None:
        clauses.append(f"{id_col} < :after")
        params["after"] = paging.before_id
    params["lim"] = paging.limit + 1
    sql = f"{select} WHERE {' AND '.join(clauses)} ORDER BY {id_col} DESC LIMIT :lim"
    rows, cursor = paging.cut(request, await db_of(request).fetchall(sql, params))
    if kind == "calls":
        data = [_call_out(r, principal) for r in rows]
    else:
        data = [{k: r[k] for k in SESSION_FIELDS} for r in rows]
    return JSONResponse({"data": data, "next_cursor": cursor})


@api.get(
    "/api/calls/{call_id:int}",
    "One call with its session and page path",
    ok="The call",
    returns=CALL_DETAIL,
)
async def get_call(request: Request, principal: ApiPrincipal) -> Response:
    """A call, how it was matched, and its session with the pages viewed."""
    db = db_of(request)
    call_id = path_id(request, "call_id")
    where, params = principal.scope.call_condition("c")
    row = await db.fetchone(
        _CALL_SELECT + " WHERE c.id = :id AND " + where, {**params, "id": call_id}
    )
    if row is None:
        raise ApiError(404, "not_found", f"No call {call_id}.")
    out = _call_out(row, principal)
    out["session"] = None
    if row["session_id"] is not None:
        out["session"] = await _session_detail(request, row["session_id"])
    return JSONResponse(out)


async def _session_detail(request: Request, session_id: int) -> dict[str, Any] | None:
    db = db_of(request)
    row = await db.fetchone(
        f"SELECT {', '.join(SESSION_FIELDS)} FROM sessions WHERE id = :id", {"id": session_id}
    )
    if row is None:
        return None
    views = await db.fetchall(
        "SELECT ts_ms, url, title, referrer FROM page_views WHERE session_id = :s"
        " ORDER BY ts_ms, id",
        {"s": session_id},
    )
    return {**row, "page_views": views}


_SESSION_SELECT = (
    "SELECT "
    + ", ".join(f"s.{f}" for f in SESSION_FIELDS)
    + " FROM sessions s JOIN sites st ON st.id = s.site_id"
)


@api.get(
    "/api/sessions",
    "List visitor sessions, newest first",
    tags=["sessions"],
    params=[*RANGE_PARAMS, P_LIMIT, P_CURSOR],
    ok="A page of sessions",
    returns=page_of(SESSION),
)
async def list_sessions(request: Request, principal: ApiPrincipal) -> Response:
    """Sessions in the token's scope, newest first, filtered by start time and site."""
    clauses, params = _scope_filters(request, principal, "s")
    return await _page(request, principal, "sessions", _SESSION_SELECT, clauses, params, "s.id")


@api.get(
    "/api/sessions/{session_id:int}",
    "One session with its page views",
    tags=["sessions"],
    ok="The session",
    returns=SESSION_DETAIL,
)
async def get_session(request: Request, principal: ApiPrincipal) -> Response:
    """A session: source, click ids, device, place and the pages it viewed."""
    db = db_of(request)
    session_id = path_id(request, "session_id")
    # Its sessions, and the click path of a session that called it (on a shared site too).
    where, params = principal.scope.session_condition("s")
    calls, call_params = principal.scope.call_condition("c", name="calls")
    found = await db.fetchval(
        f"SELECT s.id FROM sessions s WHERE s.id = :id AND ({where} OR EXISTS"
        f" (SELECT 1 FROM calls c WHERE c.session_id = s.id AND {calls}))",
        {**params, **call_params, "id": session_id},
    )
    if found is None:
        raise ApiError(404, "not_found", f"No session {session_id}.")
    return JSONResponse(await _session_detail(request, session_id))


routes = api.routes
