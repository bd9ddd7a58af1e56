"""Reading bounded query parameters, the principal's scope and signed cursors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response

from attribution.errors import FieldError
from attribution.tokens import Signer
from backend.api import openapi as oa
from backend.auth import ApiPrincipal, require_token
from backend.errors import ApiError
from backend.services import services
from pool.inventory import InventoryError
from pool.numbers import NumberError
from pool.scope import Scope
from pool.store import Store, now_ms

_Row = TypeVar("_Row")

MAX_MS = 2**53
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$"

Handler = Callable[[Request, ApiPrincipal], Awaitable[Response]]

# Parameter declarations shared by the operations that take them.
P_START = oa.query_param(
    "start",
    {"type": "string", "maxLength": 40, "pattern": DATE_PATTERN},
    "From this date (whole day, in `tz`) or date-time (ISO 8601), inclusive.",
)
P_END = oa.query_param(
    "end",
    {"type": "string", "maxLength": 40, "pattern": DATE_PATTERN},
    "Until this date (inclusive, whole day) or date-time (exclusive).",
)
P_TZ = oa.query_param(
    "tz",
    {"type": "string", "maxLength": 64, "default": "Asia/Tokyo"},
    "IANA time zone for dates without an offset.",
)
P_SITE = oa.query_param("site_id", oa.ID, "Only this site.")
P_ADVERTISER = oa.query_param("advertiser_id", oa.ID, "Only this advertiser.")
P_QUALIFIED = oa.query_param(
    "qualified", {"type": "boolean"}, "Only qualified calls (true) or only unqualified (false)."
)
P_LIMIT = oa.query_param(
    "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "Page size."
)
P_CURSOR = oa.query_param(
    "cursor", {"type": "string", "maxLength": 200}, "The `next_cursor` of the previous page."
)
RANGE_PARAMS = [P_START, P_END, P_TZ, P_SITE, P_ADVERTISER]
CONFIDENCES = ("exact", "high", "medium", "low")  # best first (attribution.matching)
P_MIN_CONFIDENCE = oa.query_param(
    "min_confidence",
    {"type": "string", "enum": list(CONFIDENCES)},
    "Only calls matched with this confidence or better (`high`: high and exact). Calls "
    "without a session have no confidence and are left out (docs/attribution.md).",
)


def authorized(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The one wrapper of every ``/api`` endpoint that needs a token.

    Runs ``fn(request, principal)`` only with a valid bearer token (else 401/403, and the
    token's last use is recorded: :func:`backend.auth.require_token`); the principal's
    :attr:`~backend.auth.ApiPrincipal.scope` is what the handler may read. Errors the domain
    packages raise become the API's JSON errors: a number, an import or any value refused
    with a :class:`~attribution.errors.FieldError` is 422 (naming its ``field``; import
    rows listed in ``errors``), a record outside the scope 404. A handler that answers
    such an error otherwise (another status, another field) catches it itself.
    """

    @wraps(fn)
    async def handler(request: Request) -> Response:
        principal = await require_token(request)
        try:
            return await fn(request, principal)
        except InventoryError as exc:
            errors = [{"row": e.row, "field": e.field, "reason": e.reason} for e in exc.errors]
            raise ApiError(422, "invalid_numbers", str(exc), errors=errors) from exc
        except (NumberError, FieldError) as exc:
            raise ApiError(422, "invalid", str(exc), field=exc.field) from exc
        except LookupError as exc:
            if type(exc) is not LookupError:
                raise  # a KeyError or IndexError is a bug, never "not found"
            raise ApiError(404, "not_found", str(exc.args[0] if exc.args else exc)) from exc

    return handler


def db_of(request: Request) -> Store:
    """The app's database."""
    store: Store = request.app.state.db
    return store


def int_param(request: Request, name: str, *, lo: int = 1, hi: int = MAX_MS) -> int | None:
    """An optional integer query parameter within [lo, hi] (else 422)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d{1,17}", raw):
        raise ApiError(422, "invalid", f"Parameter {name!r} must be an integer.", field=name)
    value = int(raw)
    if not lo <= value <= hi:
        raise ApiError(422, "invalid", f"Parameter {name!r} must be from {lo} to {hi}.", field=name)
    return value


def path_id(request: Request, name: str) -> int:
    """An id from the path; ids past what any store holds are simply not found."""
    value = int(request.path_params[name])
    if not 1 <= value <= MAX_MS:
        raise ApiError(404, "not_found", f"No such {name.removesuffix('_id')}.")
    return value


def bool_param(request: Request, name: str) -> bool | None:
    """An optional boolean query parameter (true/false/1/0)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise ApiError(422, "invalid", f"Parameter {name!r} must be true or false.", field=name)


def min_confidence(request: Request) -> tuple[str, ...] | None:
    """The confidences ``min_confidence`` keeps, best first; None when not given."""
    raw = request.query_params.get("min_confidence")
    if raw is None:
        return None
    if raw not in CONFIDENCES:
        raise ApiError(
            422,
            "invalid",
            f"Parameter 'min_confidence' must be one of {', '.join(CONFIDENCES)}.",
            field="min_confidence",
        )
    return CONFIDENCES[: CONFIDENCES.index(raw) + 1]


def choice_param(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    """A query parameter restricted to a few words."""
    raw = request.query_params.get(name, default)
    if raw not in choices:
        raise ApiError(
            422, "invalid", f"Parameter {name!r} must be one of {', '.join(choices)}.", field=name
        )
    return raw


def zone_param(request: Request) -> ZoneInfo:
    """The ``tz`` parameter as a zone (default Asia/Tokyo)."""
    name = request.query_params.get("tz", "Asia/Tokyo")
    try:
        if len(name) > 64 or not name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(
            422, "invalid", "Parameter 'tz' is not a known time zone.", field="tz"
        ) from exc


def time_param(request: Request, name: str, *, end: bool) -> int | None:
    """A ``start``/``end`` parameter as epoch ms; a date means its whole day in ``tz``."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    zone = zone_param(request)
    if len(raw) > 40 or not re.match(DATE_PATTERN, raw):
        raise ApiError(422, "invalid", f"Parameter {name!r} must be an ISO 8601 date.", field=name)
    try:
        if _DATE.match(raw):
            day = date.fromisoformat(raw)
            if end:
                day += timedelta(days=1)
            moment = datetime.combine(day, time(), zone)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
        ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError) as exc:
        raise ApiError(
            422, "invalid", f"Parameter {name!r} is not a valid date.", field=name
        ) from exc
    return max(0, min(ms, MAX_MS))


def time_range(request: Request) -> tuple[int, int]:
    """The [start, end) range in epoch ms (everything when not given)."""
    zone_param(request)  # a bad tz is refused even when no date needs it
    start = time_param(request, "start", end=False)
    end = time_param(request, "end", end=True)
    return (0 if start is None else start, MAX_MS if end is None else end)


def recent_range(request: Request, days: int = 30) -> tuple[int, int]:
    """:func:`time_range` for a report: without ``end``, up to now; without ``start``, the
    ``days`` before the end."""
    start, end = time_range(request)
    if "end" not in request.query_params:
        end = now_ms() + 1
    if "start" not in request.query_params:
        start = max(0, end - days * 86_400_000)
    end = min(end, MAX_MS)
    return start, max(start, end)


def report_window(request: Request, principal: ApiPrincipal) -> dict[str, Any]:
    """A report's scope and period as keyword arguments: ``advertiser_id``, ``site_id``
    (:func:`request_scope`), ``start_ms`` and ``end_ms`` (:func:`recent_range`)."""
    start, end = recent_range(request)
    scope = request_scope(request, principal)
    return {
        "advertiser_id": scope.advertiser_id,
        "site_id": scope.site_id,
        "start_ms": start,
        "end_ms": end,
    }


def acting_advertiser(principal: ApiPrincipal, wanted: object, *, given_as: str) -> int:
    """The advertiser a request acts for: ``wanted`` (from the query or the body, named
    ``given_as`` in the error), else the token's own; 422 when neither (an unscoped token
    must name one), 403 outside the token's scope."""
    if wanted is None:
        wanted = principal.advertiser_id
    if wanted is None:
        raise ApiError(422, "invalid", f"{given_as} is required.", field="advertiser_id")
    if type(wanted) is not int or not principal.scope.allows(wanted):
        raise ApiError(403, "forbidden", "This token may not see that advertiser.")
    return wanted


def request_scope(
    request: Request, principal: ApiPrincipal, *, site_param: str | None = "site_id"
) -> Scope:
    """The token's scope, narrowed by ``?advertiser_id=`` and ``?site_id=``.

    An advertiser outside the token's scope is refused (403); a site outside it simply
    matches nothing, as any filter does. ``site_param`` None: the route takes no site.
    """
    scope = principal.scope
    asked = int_param(request, "advertiser_id")
    if asked is not None:
        if not scope.allows(asked):
            raise ApiError(403, "forbidden", "This token cannot see that advertiser.")
        scope = scope.narrow(advertiser_id=asked)
    if site_param is None:
        return scope
    return scope.narrow(site_id=int_param(request, site_param))


def one_advertiser(request: Request, principal: ApiPrincipal) -> int:
    """The one advertiser a request is about: the token's own, or ``advertiser_id``
    (required for a token of every advertiser; 403 outside the token's scope)."""
    wanted = int_param(request, "advertiser_id")
    return acting_advertiser(principal, wanted, given_as="Parameter 'advertiser_id'")


async def site_in_scope(db: Store, principal: ApiPrincipal, site_id: int) -> dict[str, Any]:
    """A site the principal may see (404 otherwise, so ids of others do not leak)."""
    where, params = principal.scope.and_condition(advertiser="advertiser_id", site="id")
    site = await db.fetchone(
        "SELECT id, advertiser_id, timezone FROM sites WHERE id = :s" + where,
        {**params, "s": site_id},
    )
    if site is None:
        raise ApiError(404, "not_found", f"No site {site_id}.")
    return site


async def path_site_id(request: Request, principal: ApiPrincipal) -> int:
    """The ``{site_id}`` of the path, once :func:`site_in_scope` has found it visible."""
    site_id = path_id(request, "site_id")
    await site_in_scope(db_of(request), principal, site_id)
    return site_id


def cursor_signer(request: Request) -> Signer:
    """The signer of pagination cursors (one per app, :mod:`backend.api.services`)."""
    return services(request).cursors


def read_cursor(request: Request, kind: str) -> int | None:
    """The id a cursor continues after, or None on the first page (400 when forged)."""
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    value = cursor_signer(request).read(raw)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or value[0] != kind
        or not isinstance(value[1], int)
    ):
        raise ApiError(400, "bad_cursor", "The cursor is not one this API issued for this list.")
    return value[1]


def make_cursor(request: Request, kind: str, last_id: int) -> str:
    """An opaque cursor continuing after ``last_id``."""
    return cursor_signer(request).sign([kind, last_id])


@dataclass(frozen=True)
class IdPage:
    """One page of a list read newest first by id: ``limit`` rows (the ``limit`` parameter,
    1 to 500, 100 by default) below ``before_id`` (from the ``cursor``; None: the first page).
    Read ``limit + 1`` rows: the extra one says whether another page follows."""

    kind: str
    limit: int
    before_id: int | None

    def cut(
        self, request: Request, rows: Sequence[_Row], id_of: Callable[[_Row], int] | None = None
    ) -> tuple[Sequence[_Row], str | None]:
        """The page of ``rows`` and the cursor of the next page (None on the last); a row's
        id is ``id_of(row)``, by default its ``"id"``."""
        page = rows[: self.limit]
        if len(rows) <= self.limit:
            return page, None
        last = id_of(page[-1]) if id_of is not None else int(page[-1]["id"])  # type: ignore[index]
        return page, make_cursor(request, self.kind, last)


def id_page(request: Request, kind: str) -> IdPage:
    """The page of the ``kind`` list a request asks for (400 for a forged cursor)."""
    limit = int_param(request, "limit", hi=500) or 100
    return IdPage(kind, limit, read_cursor(request, kind))
