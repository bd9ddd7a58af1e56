"""``/api/reservation-numbers``, ``/api/reservation-phones``, ``/api/sms-templates``: what
reserved calls need set up.

- Reservation numbers are set aside for reservations (an advertiser's own, or shared by
  every advertiser of the portal: administrators only). A number already tracking visits
  cannot be one.
- Registered phones are the phones an advertiser calls its leads from: only they are put
  through to a lead.
- Text templates per advertiser (or the server's own, administrators) and kind, in
  Japanese and English, with ``{field}`` places (docs/reservations.md#texts).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import acting_advertiser, db_of, path_id, request_scope
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from backend.reservations.service import FIELDS, KINDS
from backend.telephony import sms
from pool.numbers import NumberError, to_e164
from pool.store import now_ms

api = Endpoints(tags=["reservations"])

_INT = {"type": "integer"}
_NINT = {"type": ["integer", "null"]}
_STR = {"type": "string"}
NUMBER = oa.component(
    "ReservationNumber",
    {
        "type": "object",
        "properties": {
            "id": _INT,
            "number": _STR,
            "advertiser_id": _NINT,
            "active": {"type": "boolean"},
        },
    },
)
PHONE = oa.component(
    "ReservationPhone",
    {
        "type": "object",
        "properties": {"id": _INT, "advertiser_id": _INT, "phone": _STR, "label": _STR},
    },
)
NEW_NUMBER: oa.Schema = {
    "type": "object",
    "required": ["number"],
    "properties": {"number": _STR, "advertiser_id": _NINT},
}
NEW_PHONE: oa.Schema = {
    "type": "object",
    "required": ["phone"],
    "properties": {"phone": _STR, "label": _STR, "advertiser_id": _INT},
}
TEMPLATE = oa.component(
    "SmsTemplate",
    {
        "type": "object",
        "required": ["kind", "lang", "body"],
        "properties": {
            "advertiser_id": {"type": "integer", "description": "0: the server's own."},
            "kind": {"type": "string", "enum": list(KINDS)},
            "lang": {"type": "string", "enum": ["ja", "en"]},
            "body": {"type": "string", "maxLength": sms.MAX_BODY},
        },
    },
)


def _phone(data: dict[str, Any], name: str) -> str:
    try:
        return to_e164(string_field(data, name, max_len=40, required=True), "JP")
    except NumberError as exc:
        raise ApiError(422, "invalid", str(exc), field=name) from exc


def _owner(data: dict[str, Any], principal: ApiPrincipal, *, shared_ok: bool) -> int | None:
    """The advertiser a row is for: the token's, or ``advertiser_id``; None (shared by every
    advertiser) when an administrator names none or 0 where ``shared_ok``."""
    wanted = data.get("advertiser_id")
    if shared_ok and principal.is_admin and wanted in (None, 0):
        return None
    return acting_advertiser(principal, wanted, given_as="'advertiser_id'")


async def _rows(
    request: Request, principal: ApiPrincipal, select: str, *, shared: bool = False
) -> list[dict[str, Any]]:
    """The rows of ``select`` (a table aliased ``r``) in the request's scope, by id;
    ``shared``: with the rows of no advertiser (shared by all)."""
    where, params = request_scope(request, principal, site_param=None).condition("r", site=None)
    if shared:
        where = f"({where} OR r.advertiser_id IS NULL)"
    return await db_of(request).fetchall(f"{select} WHERE {where} ORDER BY r.id", params)


@api.get(
    "/api/reservation-numbers",
    "Reservation numbers (the advertiser's own and the shared ones)",
    ok="The numbers",
    returns=oa.list_of("data", NUMBER),
)
async def list_numbers(request: Request, principal: ApiPrincipal) -> Response:
    """Numbers that serve the token's advertisers' windows."""
    rows = await _rows(
        request,
        principal,
        "SELECT r.id, r.number, r.advertiser_id, r.active FROM reservation_numbers r",
        shared=True,
    )
    return JSONResponse({"data": [{**r, "active": bool(r["active"])} for r in rows]})


@api.post(
    "/api/reservation-numbers",
    "Set a number aside for reservations",
    body=NEW_NUMBER,
    created="The number",
    returns=NUMBER,
)
async def add_number(request: Request, principal: ApiPrincipal) -> Response:
    """Without ``advertiser_id`` (administrators) the number is shared by every advertiser."""
    data = await read_json_object(request, 2048, fields=NEW_NUMBER["properties"])
    number = _phone(data, "number")
    owner = _owner(data, principal, shared_ok=True)
    async with db_of(request).write() as tx:
        if await tx.fetchval("SELECT 1 FROM tracking_numbers WHERE number = :n", {"n": number}):
            raise ApiError(409, "conflict", "This number tracks visits already.")
        new = await tx.fetchval(
            "INSERT INTO reservation_numbers (number, advertiser_id, created_ms)"
            " VALUES (:n, :a, :now) ON CONFLICT (number) DO NOTHING RETURNING id",
            {"n": number, "a": owner, "now": now_ms()},
        )
        if new is None:
            raise ApiError(409, "conflict", "This number is a reservation number already.")
    body = {"id": new, "number": number, "advertiser_id": owner, "active": True}
    return JSONResponse(body, status_code=201)


@api.get(
    "/api/reservation-phones",
    "Registered phones (the phones advertisers call their leads from)",
    ok="The phones",
    returns=oa.list_of("data", PHONE),
)
async def list_phones(request: Request, principal: ApiPrincipal) -> Response:
    """The registered phones of the token's advertisers."""
    rows = await _rows(
        request,
        principal,
        "SELECT r.id, r.advertiser_id, r.phone, r.label FROM reservation_phones r",
    )
    return JSONResponse({"data": rows})


@api.post(
    "/api/reservation-phones",
    "Register a phone an advertiser calls its leads from",
    body=NEW_PHONE,
    created="The phone",
    returns=PHONE,
)
async def add_phone(request: Request, principal: ApiPrincipal) -> Response:
    """Calls from this phone to a reservation number in its window reach the lead."""
    data = await read_json_object(request, 2048, fields=NEW_PHONE["properties"])
    phone = _phone(data, "phone")
    owner = _owner(data, principal, shared_ok=False)
    label = string_field(data, "label", max_len=100)
    async with db_of(request).write() as tx:
        new = await tx.fetchval(
            "INSERT INTO reservation_phones (advertiser_id, phone, label, created_ms)"
            " VALUES (:a, :p, :l, :now) ON CONFLICT (advertiser_id, phone) DO NOTHING RETURNING id",
            {"a": owner, "p": phone, "l": label, "now": now_ms()},
        )
    if new is None:
        raise ApiError(409, "conflict", "This phone is registered already.")
    return JSONResponse(
        {"id": new, "advertiser_id": owner, "phone": phone, "label": label}, status_code=201
    )


@api.delete(
    "/api/reservation-phones/{phone_id:int}", "Unregister a phone", no_content="Unregistered"
)
async def remove_phone(request: Request, principal: ApiPrincipal) -> Response:
    """Calls from it are no longer put through."""
    where, params = principal.scope.and_condition("p", site=None)
    phone_id = path_id(request, "phone_id")
    async with db_of(request).write() as tx:
        found = await tx.fetchval(
            "SELECT p.id FROM reservation_phones p WHERE p.id = :id" + where,
            {**params, "id": phone_id},
        )
        if found is None:
            raise ApiError(404, "not_found", f"No phone {phone_id}.")
        await tx.execute("DELETE FROM reservation_phones WHERE id = :id", {"id": phone_id})
    return Response(status_code=204)


@api.put(
    "/api/sms-templates",
    "Set a text template (reminder, retry, rebook) in one language",
    body=TEMPLATE,
    ok="The template",
    returns=TEMPLATE,
)
async def put_template(request: Request, principal: ApiPrincipal) -> Response:
    """Only the places the kind offers are accepted (422 names the unknown one)."""
    data = await read_json_object(request, 8192, fields=oa.properties_of(TEMPLATE))
    owner = _owner(data, principal, shared_ok=True) or 0
    kind = string_field(data, "kind", max_len=20, required=True)
    lang = string_field(data, "lang", max_len=2, required=True)
    if kind not in KINDS or lang not in ("ja", "en"):
        raise ApiError(422, "invalid", "kind or lang is not one offered.", field="kind")
    body = string_field(data, "body", max_len=sms.MAX_BODY, required=True)
    try:
        sms.check_template(body, FIELDS)
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc), field="body") from exc
    await db_of(request).execute(
        "INSERT INTO sms_templates (advertiser_id, kind, lang, body, updated_ms)"
        " VALUES (:a, :k, :l, :b, :now) ON CONFLICT (advertiser_id, kind, lang)"
        " DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        {"a": owner, "k": kind, "l": lang, "b": body, "now": now_ms()},
    )
    return JSONResponse({"advertiser_id": owner, "kind": kind, "lang": lang, "body": body})


routes = api.routes
