"""``POST /demo/call``: place a simulated call on the demo, so `make run` shows calls arrive.

Only mounted when ``CALLPATH_DEMO_CALLS`` is on (``make run`` turns it on), and only for a
signed-in dashboard user (the login cookie), who may ring only tracking numbers they may
see: anyone else gets 401, and a number of another advertiser reads as no number at all
(404). The examples page is served by the same app, so its button sends the cookie. The call goes
through the same path as a call from a PBX: the in-memory routing table answers where it
would be forwarded, the recorder writes and matches it to the session that holds the number,
and a few seconds later an end event completes it with a talk time, so the dashboard's live
screen and reports show it like any other call.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.dashboard.logins import COOKIE, viewer_for
from backend.errors import ApiError
from backend.http import read_json_object, string_field
from backend.telephony import pbx
from backend.telephony.calls import CallEvent
from backend.telephony.service import Telephony
from pool import numbers
from pool.store import Store, now_ms

# How long a demo call rings and talks before it ends, in seconds (a range).
HANG_UP_AFTER_S = (3.0, 6.0)
_pending: set[asyncio.Task[None]] = set()


def _random_caller() -> str:
    # Japanese mobile numbers (090/080/070) in E.164; valid for libphonenumber.
    return f"+81{random.choice('987')}0{random.randint(10_000_000, 99_999_999)}"


def _event(call_id: str, kind: str, tracking: str, caller: str, **fields: Any) -> CallEvent:
    """A demo call's event, stamped now."""
    return CallEvent(
        provider="demo",
        call_id=call_id,
        kind=kind,
        ts_ms=now_ms(),
        tracking_number=tracking,
        caller=caller,
        **fields,
    )


async def _hang_up(tel: Telephony, call_id: str, tracking: str, caller: str) -> None:
    await asyncio.sleep(random.uniform(*HANG_UP_AFTER_S))
    answered = random.random() < 0.85
    talk = random.randint(20, 240) if answered else 0
    tel.recorder.submit(
        _event(
            call_id,
            "end",
            tracking,
            caller,
            status="completed" if answered else "no-answer",
            duration_s=talk + 8,
            talk_s=talk,
        )
    )


async def demo_call(request: Request) -> Response:
    """Ring a tracking number as a made-up caller; it ends by itself a few seconds later."""
    tel: Telephony = request.app.state.telephony
    db: Store = request.app.state.db
    viewer = await viewer_for(
        db, request.app.state.settings.secret_key, request.cookies.get(COOKIE, "")
    )
    if viewer is None:
        raise ApiError(401, "unauthorized", "Sign in to the dashboard to place demo calls.")
    data = await read_json_object(request, 1024)
    number = await _visible_number(
        db, string_field(data, "number", max_len=20, required=True), viewer.advertiser_id
    )
    return JSONResponse(await ring(tel, number))


async def ring(tel: Telephony, number: str) -> dict[str, object]:
    """Ring the tracking number ``number`` (E.164) as a made-up caller through the real
    call path; the call ends by itself a few seconds later. The routing answer is returned.

    Also the dashboard's "place a test call" (backend/dashboard/checklist_view.py).
    """
    caller = _random_caller()
    call_id = "demo-" + secrets.token_hex(8)
    event = _event(call_id, "start", number, caller, started_ms=now_ms(), status="ringing")
    answer: dict[str, object] = await pbx.answer(tel, event)
    task = asyncio.create_task(_hang_up(tel, call_id, number, caller))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return answer


async def _visible_number(db: Store, text: str, advertiser_id: int | None) -> str:
    """The E.164 tracking number the viewer may see, or 404 (the same for any other)."""
    try:
        e164 = numbers.to_e164(text)
    except numbers.NumberError:
        e164 = ""
    row = await db.fetchone(
        "SELECT advertiser_id FROM tracking_numbers WHERE number = :n", {"n": e164}
    )
    if row is None or advertiser_id not in (None, row["advertiser_id"]):
        # Its own code, so the example page can tell "this page was not swapped" from
        # "demo calls are off" (no route: not_found).
        raise ApiError(404, "unknown_number", "No such tracking number.")
    return e164


routes = [Route("/demo/call", demo_call, methods=["POST"])]
