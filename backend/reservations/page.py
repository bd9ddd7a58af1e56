"""The lead's page ``/r/{token}``: pick another window, or cancel (no login).

The link in the lead's texts carries a signed token naming the reservation: whoever holds
the link may move or cancel that one reservation, nothing else (a forged or damaged token
is a 404, as if there were no page). The windows offered are the advertiser's free ones in
the coming week, of the reservation's length, in the lead's time zone and language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from backend.dashboard import i18n
from backend.dashboard.web import render
from backend.errors import ApiError
from backend.http import read_body
from backend.reservations.service import Reservations, reservations_of
from pool import reservations as rs

DAYS_AHEAD = 7
WEEKDAYS = {"ja": "月火水木金土日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def _day(moment: datetime, lang: str) -> str:
    weekday = WEEKDAYS["en" if lang == "en" else "ja"][moment.weekday()]
    if lang == "en":
        return f"{weekday} {moment:%Y-%m-%d}"
    return f"{moment.month}月{moment.day}日（{weekday}）"


async def _reservation(request: Request) -> tuple[Reservations, dict[str, Any]]:
    service = reservations_of(request)
    rid = service.reservation_of_token(request.path_params["token"])
    if rid is None:
        raise ApiError(404, "not_found", "No such page.")
    try:
        return service, await service.get(rid)
    except LookupError:
        raise ApiError(404, "not_found", "No such page.") from None


async def page(request: Request) -> Response:
    """The reservation, and the free windows to move it to."""
    service, row = await _reservation(request)
    return await _render(request, service, row, done=request.query_params.get("done", "")[:20])


async def _render(
    request: Request,
    service: Reservations,
    row: dict[str, Any],
    *,
    done: str = "",
    refused: bool = False,
) -> Response:
    lang = row["lang"]
    zone = ZoneInfo(row["timezone"])
    fields = await service.fields(row)
    live = row["status"] in rs.LIVE
    windows: list[tuple[str, list[tuple[int, str]]]] = []
    if live:
        duration = int(row["end_ms"]) - int(row["start_ms"])
        starts = await rs.free_windows(
            service.db(),
            service.calendar,
            int(row["advertiser_id"]),
            duration_ms=duration,
            after_ms=service.clock(),
            days=DAYS_AHEAD,
            tz=row["timezone"],
        )
        for start in starts:
            local = datetime.fromtimestamp(start / 1000, UTC).astimezone(zone)
            end = datetime.fromtimestamp((start + duration) / 1000, UTC).astimezone(zone)
            day = _day(local, lang)
            if not windows or windows[-1][0] != day:
                windows.append((day, []))
            windows[-1][1].append((start, f"{local:%H:%M}–{end:%H:%M}"))
    start_local = datetime.fromtimestamp(int(row["start_ms"]) / 1000, UTC).astimezone(zone)
    context = {
        "lang": lang,
        "t": i18n.translator(lang),
        "advertiser": fields["advertiser"],
        "number": fields["number"],
        "current": f"{_day(start_local, lang)} {fields['start']}–{fields['end']}",
        "live": live,
        "windows": windows,
        "done": done if done in ("rebooked", "cancelled") else "",
        "refused": refused,
        "action": request.url.path,
        "tz": row["timezone"],
    }
    response = render(request, None, "rebook.html", context, status=409 if refused else 200)
    # The link is the key: never cached, never sent on as a referrer.
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    return response


async def act(request: Request) -> Response:
    """Move the reservation to the window picked, or cancel it."""
    service, row = await _reservation(request)
    form = dict(parse_qsl((await read_body(request, 2048)).decode("utf-8", "replace")))
    action = form.get("action", "")
    if row["status"] not in rs.LIVE:
        return await _render(request, service, row)
    if action == "cancel":
        await service.cancel(int(row["id"]))
        done = "cancelled"
    elif action == "rebook":
        raw = form.get("start", "")
        if not raw.isdigit() or len(raw) > 15:
            raise ApiError(422, "invalid", "Pick a window.")
        start = int(raw)
        try:
            await service.rebook(
                int(row["id"]), start, start + int(row["end_ms"]) - int(row["start_ms"])
            )
        except rs.ReservationError as exc:
            raise ApiError(422, "invalid", str(exc)) from exc
        except rs.Unavailable:
            # Someone else took it meanwhile: the page again, with what is free now.
            return await _render(request, service, await service.get(int(row["id"])), refused=True)
        done = "rebooked"
    else:
        raise ApiError(422, "invalid", "Unknown action.")
    return RedirectResponse(f"{request.url.path}?done={done}", status_code=303)


routes = [
    Route("/r/{token}", page, methods=["GET"]),
    Route("/r/{token}", act, methods=["POST"]),
]
