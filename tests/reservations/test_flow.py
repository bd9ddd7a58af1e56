"""A reserved call end to end through the Twilio stand-in, on a clock the test moves:
booking → reminder at T−15 min → the advertiser's call in the window bridged to the lead →
connected and billable; outside the window a message; a stranger refused; no answer → a
retry text → the window closes → the rebooking text → rebooked → a new reminder."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.applications import Starlette

from backend.durable import Runner
from backend.reservations.service import connections
from tests.reservations.conftest import (
    ADVERTISER_PHONE,
    LEAD,
    MINUTE,
    NUMBER,
    STRANGER,
    T0,
    Clock,
    Portal,
    auth,
)
from tests.support.twilio import MessagesApi, TwilioStandIn, attributes, verbs

START = T0 + 5 * 60 * MINUTE  # 14:00 in Tokyo
END = START + 30 * MINUTE
TOKYO = ZoneInfo("Asia/Tokyo")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(TOKYO).isoformat()


async def book(
    client: httpx.AsyncClient, portal: Portal, lead_id: str = "L-1", start_ms: int = START,
    end_ms: int = END, **extra: Any,
) -> httpx.Response:  # fmt: skip
    body = {
        "lead_id": lead_id,
        "name": "山田太郎",
        "phone": "090-3333-4444",
        "consent": True,
        "start": iso(start_ms),
        "end": iso(end_ms),
        "timezone": "Asia/Tokyo",
        "medium": "portal-a",
        **extra,
    }
    return await client.post("/api/reservations", json=body, headers=auth(portal))


class Day(NamedTuple):
    """A reservation's day end to end: the app, the portal's client, the clock, the job
    runner and the Twilio stand-ins (texts and calls)."""

    app: Starlette
    client: httpx.AsyncClient
    portal: Portal
    clock: Clock
    runner: Runner
    messages_api: MessagesApi
    twilio: TwilioStandIn


@pytest.fixture
def day(
    app: Starlette,
    client: httpx.AsyncClient,
    portal: Portal,
    clock: Clock,
    runner: Runner,
    messages_api: MessagesApi,
    twilio: TwilioStandIn,
) -> Day:
    return Day(app, client, portal, clock, runner, messages_api, twilio)


async def test_booking_reminder_bridged_connected_billable(
    day: Day,
) -> None:
    app, client, portal, clock, runner, messages_api, twilio = day
    made = await book(client, portal)
    assert made.status_code == 201, made.text
    reservation = made.json()
    assert reservation["number"] == NUMBER and reservation["status"] == "booked"
    assert reservation["lead_phone"] != LEAD  # masked for a token that may not see callers
    # The portal sends the same lead again: the same reservation, nothing new.
    again = await book(client, portal)
    assert again.status_code == 200 and again.json()["id"] == reservation["id"]

    # 16 minutes before the window: nothing yet; at T−15 min the reminder.
    clock.now = START - 16 * MINUTE
    await runner.run_due()
    assert messages_api.messages == []
    clock.now = START - 15 * MINUTE
    await runner.run_due()
    [reminder] = messages_api.to(LEAD)
    assert "ABC不動産" in reminder.body and NUMBER in reminder.body and "14:00" in reminder.body
    assert f"{app.state.settings.public_url}/r/" in reminder.body
    await runner.run_due()  # run again: still one
    assert len(messages_api.to(LEAD)) == 1

    # A stranger calling the number in the window is refused with a message.
    clock.now = START + 2 * MINUTE
    stranger = await twilio.call(to=NUMBER, caller=STRANGER, sid="CA-stranger")
    assert stranger.dialled == "" and verbs(stranger)[0] == ["Say", "Hangup"]

    # The advertiser from its registered phone, in the window: put through to the lead,
    # shown the reservation number.
    clock.now = START + 5 * MINUTE
    call = await twilio.call(to=NUMBER, caller=ADVERTISER_PHONE, sid="CA-bridged")
    assert call.dialled == LEAD
    assert attributes(call, "Dial")["callerId"] == NUMBER
    got = (await client.get(f"/api/reservations/{reservation['id']}", headers=auth(portal))).json()
    assert got["status"] == "connected" and got["talk_s"] == 30
    assert got["first_attempt"] == iso(START + 5 * MINUTE)
    # Billable: one connection, for billing to read.
    [billable] = await connections(app.state.db, start_ms=T0, end_ms=T0 + 86_400_000)
    assert billable["reservation_id"] == reservation["id"] and billable["talk_s"] == 30
    assert billable["advertiser_id"] == portal.advertiser_id and billable["medium"] == "portal-a"

    # The advertiser says what came of it.
    noted = await client.patch(
        f"/api/reservations/{reservation['id']}", json={"outcome": "意向あり"}, headers=auth(portal)
    )
    assert noted.json()["outcome"] == "意向あり" and noted.json()["status"] == "connected"

    # The same advertiser after the window: a message, not the lead.
    clock.now = END + 60 * MINUTE
    late = await twilio.call(to=NUMBER, caller=ADVERTISER_PHONE, sid="CA-late")
    assert late.dialled == "" and verbs(late)[0] == ["Say", "Hangup"]
    attempts = await app.state.db.fetchall(
        "SELECT call_sid, party, outcome FROM reservation_attempts ORDER BY id"
    )
    assert [(a["call_sid"], a["party"], a["outcome"]) for a in attempts] == [
        ("CA-stranger", "stranger", "refused"),
        ("CA-bridged", "advertiser", "bridged"),
        ("CA-late", "advertiser", "outside_window"),
    ]
    # The window's close finds it connected: no rebooking text.
    await runner.run_due()
    assert len(messages_api.to(LEAD)) == 1


async def test_no_answer_retry_then_rebook_and_a_new_reminder(
    day: Day,
) -> None:
    _app, client, portal, clock, runner, messages_api, twilio = day
    reservation = (await book(client, portal)).json()
    clock.now = START + 3 * MINUTE
    missed = await twilio.call(to=NUMBER, caller=ADVERTISER_PHONE, sid="CA-1", answered=False)
    assert missed.dialled == LEAD
    # The retry text goes out after the configured wait, within the window.
    clock.now = START + 8 * MINUTE
    await runner.run_due()
    texts = [m.body for m in messages_api.to(LEAD)]
    assert (
        len(texts) == 1 and "つながりませんでした" in texts[0]
    )  # (the reminder's time had passed)
    # The lead calls back in the window: put through to the advertiser.
    back = await twilio.call(to=NUMBER, caller=LEAD, sid="CA-2", answered=False)
    assert back.dialled == ADVERTISER_PHONE
    # The window ends without a connection: missed, and the rebooking text.
    clock.now = END
    await runner.run_due()
    rebook = messages_api.to(LEAD)[-1]
    assert "/r/" in rebook.body
    got = (await client.get(f"/api/reservations/{reservation['id']}", headers=auth(portal))).json()
    assert got["status"] == "missed" and got["retries"] == 1
    # The lead rebooks through the link (the page itself is driven in Chromium in
    # test_rebook_page.py); the API does the same for the portal.
    token_path = rebook.body[rebook.body.index("/r/") :].split()[0]
    page = await client.get(token_path)
    assert page.status_code == 200 and "ABC不動産" in page.text
    new_start = START + 24 * 60 * MINUTE
    moved = await client.post(
        token_path, data={"action": "rebook", "start": str(new_start)}, follow_redirects=False
    )
    assert moved.status_code == 303
    got = (await client.get(f"/api/reservations/{reservation['id']}", headers=auth(portal))).json()
    assert got["status"] == "booked" and got["rebooks"] == 1 and got["start"] == iso(new_start)
    clock.now = new_start - 15 * MINUTE
    await runner.run_due()
    reminder = messages_api.to(LEAD)[-1]
    assert "14:00" in reminder.body and "より本日" in reminder.body


async def test_a_taken_window_is_refused_with_the_next_free_one(
    client: httpx.AsyncClient, portal: Portal
) -> None:
    assert (await book(client, portal, "L-1")).status_code == 201
    # The same window for another lead: the only number is held (with its buffers).
    refused = await book(client, portal, "L-2")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "unavailable"
    # Next free: after the first window and both buffers (5 min each).
    assert error["next_start"] == iso(END + 10 * MINUTE)
    assert error["next_end"] == iso(END + 40 * MINUTE)
    assert (
        await book(client, portal, "L-2", END + 10 * MINUTE, END + 40 * MINUTE)
    ).status_code == 201


async def test_cancel_frees_the_number_and_drops_the_reminder(
    client: httpx.AsyncClient,
    portal: Portal,
    clock: Clock,
    runner: Runner,
    messages_api: MessagesApi,
) -> None:
    reservation = (await book(client, portal)).json()
    cancelled = await client.patch(
        f"/api/reservations/{reservation['id']}", json={"status": "cancelled"}, headers=auth(portal)
    )
    assert cancelled.json()["status"] == "cancelled"
    # The window is free again; only the new lead's reminder goes out.
    assert (await book(client, portal, "L-2", phone="090-7777-8888")).status_code == 201
    clock.now = END + MINUTE
    await runner.run_due()
    assert [m.to for m in messages_api.messages] == ["+819077778888"]


async def test_a_reminder_after_downtime_is_dropped_and_counted(
    app: Starlette, client: httpx.AsyncClient, portal: Portal, clock: Clock, runner: Runner,
    messages_api: MessagesApi,
) -> None:  # fmt: skip
    await book(client, portal)
    clock.now = START + 2 * MINUTE  # the server was down from T−20 min to now
    await runner.run_due()
    assert messages_api.messages == []
    dropped = await app.state.db.fetchval(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'reservation.reminder' AND status = 'dropped'"
    )
    assert dropped == 1


async def test_bad_reservations_are_refused(client: httpx.AsyncClient, portal: Portal) -> None:
    for extra, field in (
        ({"phone": "12"}, "phone"),
        ({"end": "2026-13-45T10:00"}, "end"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"consent": "yes"}, "consent"),
        ({"lang": "fr"}, "lang"),
    ):
        bad = await book(client, portal, **extra)
        assert bad.status_code == 422, (extra, bad.text)
        assert bad.json()["error"].get("field") == field
    backwards = await book(client, portal, start_ms=END, end_ms=START)
    assert backwards.status_code == 422
    other = await book(client, portal, advertiser_id=portal.advertiser_id + 99)
    assert other.status_code == 403


async def test_the_list_pages_newest_first_with_a_cursor(
    client: httpx.AsyncClient, portal: Portal
) -> None:
    made = []
    for k in range(3):
        start = START + k * 120 * MINUTE
        answer = await book(
            client, portal, f"L-{k}", start, start + 30 * MINUTE, phone=f"090-1111-000{k}"
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    first = await client.get("/api/reservations?limit=2", headers=auth(portal))
    assert [r["id"] for r in first.json()["data"]] == made[::-1][:2]
    cursor = first.json()["next_cursor"]
    second = await client.get(f"/api/reservations?limit=2&cursor={cursor}", headers=auth(portal))
    assert [r["id"] for r in second.json()["data"]] == made[:1]
    assert "next_cursor" not in second.json()  # the last page
    forged = await client.get("/api/reservations?cursor=x", headers=auth(portal))
    assert forged.status_code == 400
