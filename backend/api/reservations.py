"""``/api/reservations``: reserved calls (予約型コール) for portals, per advertiser.

A portal posts a lead with its window; callpath holds a reservation number for it, texts
the lead before the window, bridges the advertiser's call to the lead, and counts the
connection. ``lead_id`` is the portal's own id: posting it again returns the reservation
made the first time (200 instead of 201). A window no number can serve is 409 with the
next free one. docs/reservations.md walks through it.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import reservation_kpis
from attribution.csvcells import csv_writer
from attribution.tokens import SESSION_TOKEN, Signer
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import (
    P_ADVERTISER,
    P_CURSOR,
    P_END,
    P_LIMIT,
    P_START,
    P_TZ,
    acting_advertiser,
    choice_param,
    db_of,
    id_page,
    int_param,
    path_id,
    request_scope,
    time_range,
)
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from backend.reservations.announce import describe, iso
from backend.reservations.service import reservations_of
from pool import reservations as rs
from pool.numbers import NumberError, to_e164

api = Endpoints(tags=["reservations"])

_STR = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
RESERVATION = oa.component(
    "Reservation",
    {
        "type": "object",
        "required": ["id", "advertiser_id", "lead_id", "status", "number", "start", "end"],
        "properties": {
            "id": _INT,
            "advertiser_id": _INT,
            "lead_id": _STR,
            "lead_name": _STR,
            "lead_phone": {
                "type": "string",
                "description": "Masked unless the token may see callers.",
            },
            "consent": {"type": "boolean"},
            "lang": {"type": "string", "enum": ["ja", "en"]},
            "medium": _STR,
            "campaign": _STR,
            "session_id": {"type": ["integer", "null"]},
            "number": {"type": "string", "description": "The reservation number (E.164)."},
            "start": _TIME,
            "end": _TIME,
            "timezone": _STR,
            "status": {"type": "string", "enum": list(rs.STATUSES)},
            "rebooks": _INT,
            "retries": _INT,
            "first_attempt": {"type": ["string", "null"], "format": "date-time"},
            "connected": {"type": ["string", "null"], "format": "date-time"},
            "talk_s": _INT,
            "outcome": _STR,
            "rebook_url": _STR,
        },
    },
)
NEW_RESERVATION = {
    "type": "object",
    "required": ["lead_id", "phone", "start", "end"],
    "properties": {
        "advertiser_id": {"type": "integer", "description": "Required for an unscoped token."},
        "lead_id": {"type": "string", "maxLength": 128, "description": "The portal's own id."},
        "name": {"type": "string", "maxLength": 200},
        "phone": {"type": "string", "maxLength": 40},
        "consent": {"type": "boolean", "description": "The lead agreed to texts."},
        "lang": {"type": "string", "enum": ["ja", "en"]},
        "start": {"type": "string", "maxLength": 40, "description": "ISO 8601"},
        "end": {"type": "string", "maxLength": 40},
        "timezone": {"type": "string", "maxLength": 64, "default": "Asia/Tokyo"},
        "medium": {"type": "string", "maxLength": 100},
        "campaign": {"type": "string", "maxLength": 200},
        "session_token": {"type": "string", "maxLength": 512},
    },
}
CHANGE = {
    "type": "object",
    "properties": {
        "start": {"type": "string", "maxLength": 40},
        "end": {"type": "string", "maxLength": 40},
        "status": {"type": "string", "enum": ["cancelled"]},
        "outcome": {
            "type": "string",
            "maxLength": 200,
            "description": "What came of the call, set by the advertiser (意向あり, NG: 価格…).",
        },
    },
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(422, "invalid", "Unknown time zone.", field="timezone") from exc
    return name


def _moment(data: dict[str, Any], name: str, tz: str) -> int:
    raw = string_field(data, name, max_len=40, required=True)
    if not _ISO.match(raw):
        raise ApiError(422, "invalid", f"{name!r} must be an ISO 8601 time.", field=name)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(422, "invalid", f"{name!r} is not a valid time.", field=name) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return int(moment.timestamp() * 1000)


async def shown(
    request: Request, principal: ApiPrincipal | None, row: dict[str, Any]
) -> dict[str, Any]:
    """A reservation as the API shows it, with the lead's rebooking link."""
    number = await db_of(request).fetchval(
        "SELECT number FROM reservation_numbers WHERE id = :n", {"n": row["number_id"]}
    )
    sees = principal is None or principal.can_see_callers
    return {
        **describe(row, number, show_callers=sees),
        "rebook_url": reservations_of(request).rebook_link(int(row["id"])),
    }


def unavailable(exc: rs.Unavailable, tz: str) -> ApiError:
    """The 409 of a window no number can serve, with the next free one."""
    nxt = exc.next_start_ms
    return ApiError(
        409,
        "unavailable",
        "No reservation number is free for this window.",
        next_start=iso(nxt, tz),
        next_end=iso(nxt + exc.duration_ms, tz) if nxt is not None else None,
    )


async def _session(request: Request, token: str, advertiser_id: int) -> int | None:
    """The tracked visit the lead's form was filled on (its click path joins the lead)."""
    if not token:
        return None
    session_id = Signer(request.app.state.settings.secret_key, SESSION_TOKEN).read(token)
    if type(session_id) is not int:
        raise ApiError(
            422, "invalid", "session_token is not a visit's token.", field="session_token"
        )
    owner = await db_of(request).fetchval(
        "SELECT st.advertiser_id FROM sessions s JOIN sites st ON st.id = s.site_id"
        " WHERE s.id = :id",
        {"id": session_id},
    )
    return session_id if owner == advertiser_id else None


@api.post(
    "/api/reservations",
    "Book a lead's call window (idempotent by lead_id)",
    body=NEW_RESERVATION,
    responses={
        200: oa.json_response("The reservation made before for this lead_id", RESERVATION),
        201: oa.json_response("The reservation", RESERVATION),
        409: oa.json_response("No number is free: error.next_start / next_end", oa.ERROR),
    },
)
async def create(request: Request, principal: ApiPrincipal) -> Response:
    """Hold a reservation number for the lead's window, plan the reminder, return it."""
    data = await read_json_object(request, 8192, fields=NEW_RESERVATION["properties"])
    advertiser_id = acting_advertiser(
        principal, data.get("advertiser_id"), given_as="'advertiser_id'"
    )
    tz = _zone(string_field(data, "timezone", max_len=64) or "Asia/Tokyo")
    lang = string_field(data, "lang", max_len=2) or "ja"
    if lang not in ("ja", "en"):
        raise ApiError(422, "invalid", "lang is 'ja' or 'en'.", field="lang")
    consent = data.get("consent", False)
    if type(consent) is not bool:
        raise ApiError(422, "invalid", "consent is true or false.", field="consent")
    try:
        phone = to_e164(string_field(data, "phone", max_len=40, required=True), "JP")
    except NumberError as exc:
        raise ApiError(422, "invalid", str(exc), field="phone") from exc
    lead = rs.Lead(
        advertiser_id=advertiser_id,
        lead_ref=string_field(data, "lead_id", max_len=128, required=True),
        phone=phone,
        name=string_field(data, "name", max_len=200),
        consent=consent,
        lang=lang,
        medium=string_field(data, "medium", max_len=100),
        campaign=string_field(data, "campaign", max_len=200),
        session_id=await _session(
            request, string_field(data, "session_token", max_len=512), advertiser_id
        ),
        timezone=tz,
    )
    start, end = _moment(data, "start", tz), _moment(data, "end", tz)
    try:
        row, made = await reservations_of(request).book(lead, start, end)
    except rs.ReservationError as exc:
        raise ApiError(422, "invalid", str(exc), field="start") from exc
    except rs.Unavailable as exc:
        raise unavailable(exc, tz) from exc
    return JSONResponse(await shown(request, principal, row), status_code=201 if made else 200)


P_STATUS = oa.query_param(
    "status", {"type": "string", "enum": list(rs.STATUSES)}, "Only this status."
)
P_MEDIUM = oa.query_param("medium", {"type": "string", "maxLength": 100}, "Only this medium.")


@api.get(
    "/api/reservations",
    "Reservations whose window starts in a period",
    params=[P_START, P_END, P_TZ, P_ADVERTISER, P_STATUS, P_MEDIUM, P_LIMIT, P_CURSOR],
    ok="A page of reservations",
    returns=oa.list_of("data", RESERVATION),
)
async def list_all(request: Request, principal: ApiPrincipal) -> Response:
    """Newest first; ``next_cursor`` pages on."""
    scope = request_scope(request, principal, site_param=None)
    start, end = time_range(request)
    where, params = scope.condition("r", site=None)
    sql = f"SELECT * FROM reservations r WHERE {where} AND r.start_ms >= :a AND r.start_ms < :b"
    params.update(a=start, b=end)
    status = request.query_params.get("status")
    if status is not None:
        params["status"] = choice_param(request, "status", rs.STATUSES, "booked")
        sql += " AND r.status = :status"
    medium = request.query_params.get("medium")
    if medium is not None:
        params["medium"] = medium[:100]
        sql += " AND r.medium = :medium"
    paging = id_page(request, "reservations")
    if paging.before_id is not None:
        sql += " AND r.id < :after"
        params["after"] = paging.before_id
    sql += f" ORDER BY r.id DESC LIMIT {paging.limit + 1}"
    page, cursor = paging.cut(request, await db_of(request).fetchall(sql, params))
    body: dict[str, Any] = {"data": [await shown(request, principal, r) for r in page]}
    if cursor is not None:
        body["next_cursor"] = cursor
    return JSONResponse(body)


P_FORMAT = oa.query_param("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv.")


@api.get(
    "/api/reservations/kpis",
    "Connection KPIs per advertiser and medium over a period",
    params=[P_START, P_END, P_TZ, P_ADVERTISER, P_FORMAT],
    ok="One row per advertiser and medium (docs/reservations.md#kpis)",
    returns=oa.list_of("data", {"type": "object"}),
)
async def kpis(request: Request, principal: ApiPrincipal) -> Response:
    """Reservations, reminders, connections, talk time, first attempt, retries, rebooks,
    cancellations and no-shows; ``format=csv`` for a spreadsheet."""
    scope = request_scope(request, principal, site_param=None)
    start, end = time_range(request)
    fmt = choice_param(request, "format", ("json", "csv"), "json")
    rows = [
        k.row()
        for k in await reservation_kpis.kpis(db_of(request), scope, start_ms=start, end_ms=end)
    ]
    if fmt == "json":
        return JSONResponse({"data": rows})
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(reservation_kpis.COLUMNS)
    for row in rows:
        writer.writerow([row[c] for c in reservation_kpis.COLUMNS])
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="reservation-kpis.csv"'},
    )


P_DAYS = oa.query_param("days", {"type": "integer", "minimum": 1, "maximum": 31}, "Days ahead (7).")
P_RATE = oa.query_param(
    "bookings_per_hour", {"type": "integer", "minimum": 1, "maximum": 10000},
    "A booking rate to size the pool for.",
)  # fmt: skip
P_WINDOW = oa.query_param(
    "window_minutes", {"type": "integer", "minimum": 1, "maximum": 240}, "Window length (30)."
)


@api.get(
    "/api/reservations/capacity",
    "Windows booked per reservation number per hour, and the numbers a rate needs",
    params=[P_ADVERTISER, P_DAYS, P_RATE, P_WINDOW],
    ok="The capacity",
    returns={"type": "object"},
)
async def capacity(request: Request, principal: ApiPrincipal) -> Response:
    """The days ahead, hour by hour, per number; ``numbers_needed`` for a booking rate."""
    scope = request_scope(request, principal, site_param=None)
    days = int_param(request, "days", hi=31) or 7
    service = reservations_of(request)
    now = service.clock()
    start = now // rs.HOUR_MS * rs.HOUR_MS
    numbers = await rs.capacity(db_of(request), scope, start_ms=start, days=days)
    body: dict[str, Any] = {
        "from": iso(start),
        "numbers": [
            {
                **n,
                "hours": [{"hour": iso(h["hour_ms"]), "windows": h["windows"]} for h in n["hours"]],
            }
            for n in numbers
        ],
    }
    rate = int_param(request, "bookings_per_hour", hi=10_000)
    if rate is not None:
        window = (int_param(request, "window_minutes", hi=240) or 30) * rs.MINUTE_MS
        body["numbers_needed"] = rs.numbers_needed(rate, window, service.calendar)
    return JSONResponse(body)


async def _in_scope(request: Request, principal: ApiPrincipal) -> dict[str, Any]:
    rid = path_id(request, "reservation_id")
    where, params = principal.scope.and_condition("r", site=None)
    row = await db_of(request).fetchone(
        "SELECT * FROM reservations r WHERE r.id = :id" + where, {**params, "id": rid}
    )
    if row is None:
        raise ApiError(404, "not_found", f"No reservation {rid}.")
    return row


@api.get(
    "/api/reservations/{reservation_id:int}",
    "One reservation",
    ok="The reservation",
    returns=RESERVATION,
)
async def get_one(request: Request, principal: ApiPrincipal) -> Response:
    """A reservation with its number, window, status and results."""
    return JSONResponse(await shown(request, principal, await _in_scope(request, principal)))


@api.patch(
    "/api/reservations/{reservation_id:int}",
    "Rebook (new start and end), cancel (status: cancelled) or set the outcome",
    body=CHANGE,
    ok="The reservation after the change",
    returns=RESERVATION,
    responses={409: oa.json_response("No number is free: error.next_start / next_end", oa.ERROR)},
)
async def patch(request: Request, principal: ApiPrincipal) -> Response:
    """Move the window (the reminder moves with it) or cancel (the number is free again)."""
    row = await _in_scope(request, principal)
    data = await read_json_object(request, 4096, fields=("start", "end", "status", "outcome"))
    service = reservations_of(request)
    if "outcome" in data:
        outcome = string_field(data, "outcome", max_len=200)
        await db_of(request).execute(
            "UPDATE reservations SET outcome = :o, updated_ms = :now WHERE id = :id",
            {"o": outcome, "now": service.clock(), "id": row["id"]},
        )
        row = await service.get(int(row["id"]))
        if not {"start", "end", "status"} & set(data):
            return JSONResponse(await shown(request, principal, row))
    try:
        if "status" in data:
            if data["status"] != "cancelled" or "start" in data:
                raise ApiError(422, "invalid", "status may only be 'cancelled'.", field="status")
            changed = await service.cancel(int(row["id"]))
        else:
            tz = row["timezone"]
            start, end = _moment(data, "start", tz), _moment(data, "end", tz)
            changed = await service.rebook(int(row["id"]), start, end)
    except rs.ReservationError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    except rs.Unavailable as exc:
        raise unavailable(exc, row["timezone"]) from exc
    return JSONResponse(await shown(request, principal, changed))


routes = api.routes
