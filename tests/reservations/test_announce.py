"""The advertiser hears of its reserved calls: signed webhooks and e-mail for booked,
reminder sent, connected (durable jobs, once each), the lead's phone masked and its
rebooking link never sent."""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from backend.durable import Runner
from backend.notify import targets
from backend.notify.mail import SmtpConfig
from backend.settings import Settings
from backend.telephony.signature import pbx_valid
from tests.reservations.conftest import ADVERTISER_PHONE, LEAD, MINUTE, NUMBER, Clock, Portal
from tests.reservations.test_flow import END, START, book
from tests.support.twilio import TwilioStandIn
from tests.telephony.conftest import smtp as telephony_smtp
from tests.telephony.test_notify import LOCAL, Receiver, serving

SECRET = "hook-secret"
smtp = telephony_smtp  # the local SMTP server of the call notification tests


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(outbound_allow_hosts="127.0.0.1")


async def test_webhooks_and_email_announce_each_event_once(
    app: Starlette,
    client: httpx.AsyncClient,
    portal: Portal,
    clock: Clock,
    runner: Runner,
    twilio: TwilioStandIn,
    smtp: Any,
) -> None:
    mailbox, port = smtp
    app.state.telephony.notifier.smtp = SmtpConfig(host="127.0.0.1", port=port)
    receiver = Receiver(failures=1)  # the first delivery of each event fails once
    async with serving(receiver) as url:
        db = app.state.db
        await targets.add_target(
            db, advertiser_id=portal.advertiser_id, kind="webhook", address=url,
            secret=SECRET, event="reservation", policy=LOCAL,
        )  # fmt: skip
        await targets.add_target(
            db, advertiser_id=portal.advertiser_id, kind="email", address="sales@example.com",
            event="reservation", policy=LOCAL,
        )  # fmt: skip
        reservation = (await book(client, portal)).json()
        await runner.run_due()  # booked: the webhook fails once, the e-mail goes
        clock.now += 60_000  # past the first retry's wait
        await runner.run_due()
        clock.now = START - 15 * MINUTE
        await runner.run_due()  # the reminder, then its announcement
        await runner.run_due()
        clock.now += 60_000
        await runner.run_due()
        clock.now = START + 5 * MINUTE
        await twilio.call(to=NUMBER, caller=ADVERTISER_PHONE, sid="CA-n1")
        await runner.run_due()
        clock.now += 60_000
        await runner.run_due()
        clock.now = END + MINUTE
        await runner.run_due()  # the window closes connected: nothing more

    delivered = [(headers, orjson.loads(body)) for headers, body in receiver.requests]
    events = [body["event"] for _, body in delivered]
    # Each event once more than its failure, the same delivery id both times.
    assert events == [
        "reservation.booked", "reservation.booked",
        "reservation.reminder_sent", "reservation.reminder_sent",
        "reservation.connected", "reservation.connected",
    ]  # fmt: skip
    for headers, body in delivered:
        ts, signature = headers["x-callpath-timestamp"], headers["x-callpath-signature"]
        raw = orjson.dumps(body)
        assert pbx_valid(SECRET, ts, raw, signature, now_s=int(ts), tolerance_s=5)
        assert headers["x-callpath-delivery"] == str(body["delivery"])
        assert body["reservation"]["id"] == reservation["id"]
        assert body["reservation"]["lead_phone"] != LEAD  # masked: the CLI set it up
        assert "/r/" not in raw.decode()
    assert delivered[-1][1]["reservation"]["status"] == "connected"
    subjects = [
        str(make_header(decode_header(message_from_bytes(m)["Subject"]))) for m in mailbox.messages
    ]
    assert len(subjects) == 3 and "接続" in subjects[-1]
