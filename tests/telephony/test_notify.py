"""Notifications of new calls: signed webhooks retried with backoff, and SMTP email
(delivered to a real local SMTP server, aiosmtpd)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import httpx
import orjson
import pytest

from attribution.outbound import OutboundPolicy
from backend.notify import targets
from backend.notify.mail import SmtpConfig
from backend.settings import Settings
from backend.telephony.signature import pbx_valid
from tests.support.server import serving_asgi
from tests.telephony.conftest import TRACKING, call_params, post_twilio

# The local receivers stand for an operator's own: allowed by name, as in production
# (tests/telephony/test_notify_trust.py runs with the setting off).
LOCAL = OutboundPolicy.parse("127.0.0.1")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(outbound_allow_hosts="127.0.0.1")


class Receiver:
    """A real HTTP server that fails the first ``failures`` requests of each event kind,
    then accepts."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        event = headers.get("x-callpath-event")
        seen = sum(1 for h, _ in self.requests if h.get("x-callpath-event") == event)
        status = self.status if seen <= self.failures else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def serving(app: Receiver) -> AsyncIterator[str]:
    async with serving_asgi(app) as port:
        yield f"http://127.0.0.1:{port}/hook"


async def _one_call(tclient: httpx.AsyncClient, telephony: Any, sid: str) -> None:
    """A call delivered the way Twilio does, every callback twice; returns once its
    notifications went out."""
    for _ in range(2):
        await post_twilio(tclient, "/twilio/voice", call_params(sid=sid))
    for _ in range(2):
        await post_twilio(
            tclient,
            "/twilio/dial",
            call_params(sid=sid, DialCallStatus="completed", DialCallDuration="33"),
        )
    for _ in range(2):
        await post_twilio(
            tclient,
            "/twilio/status",
            call_params(sid=sid, CallStatus="completed", CallDuration="40"),
        )
    assert await telephony.recorder.drain(10)
    await telephony.notifier.wait(30)


async def _webhook(db: Any, url: str, event: str = "completed") -> None:
    """A webhook of advertiser 1 at the local ``url``, for ``event``."""
    await targets.add_target(
        db, advertiser_id=1, kind="webhook", address=url, event=event, policy=LOCAL
    )


async def test_webhook_and_email_announce_a_call_once(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, smtp: Any
) -> None:
    mailbox, port = smtp
    telephony.notifier.smtp = SmtpConfig(host="127.0.0.1", port=port, sender="calls@example.com")
    receiver = Receiver(failures=2)
    async with serving(receiver) as url:
        hook = await targets.add_target(
            db,
            advertiser_id=1,
            kind="webhook",
            address=url,
            secret="s3cret",
            event="completed",
            policy=LOCAL,
        )
        await targets.add_target(
            db,
            advertiser_id=1,
            kind="email",
            address="front@example.com",
            event="completed",
            show_callers=True,  # set up by the operator, who chose to send numbers in full
        )
        await _webhook(db, url, "started")
        await _one_call(tclient, telephony, "CAN1")

    completed = [
        (h, b) for h, b in receiver.requests if h.get("x-callpath-event") == "call.completed"
    ]
    started = [(h, b) for h, b in receiver.requests if h.get("x-callpath-event") == "call.started"]
    # Two refusals, then accepted: three attempts of the same delivery, one call.
    assert len(completed) == 3
    assert len({h["x-callpath-delivery"] for h, _ in completed}) == 1
    headers, body = completed[-1]
    assert pbx_valid(
        "s3cret",
        headers["x-callpath-timestamp"],
        body,
        headers["x-callpath-signature"],
        now_s=float(headers["x-callpath-timestamp"]),
        tolerance_s=300,
    )
    payload = orjson.loads(body)
    assert payload["event"] == "call.completed"
    call = payload["call"]
    assert (call["provider_call_id"], call["status"], call["talk_s"]) == ("CAN1", "answered", 33)
    assert call["tracking_number"] == TRACKING
    assert len(started) == 3 and "x-callpath-signature" not in started[0][0]

    rows = await db.fetchall(
        "SELECT target_id, event, status, attempts FROM notification_deliveries ORDER BY id"
    )
    assert {
        (r["target_id"], r["status"], r["attempts"]) for r in rows if r["target_id"] == hook
    } == {(hook, "sent", 3)}
    assert all(r["status"] == "sent" for r in rows) and len(rows) == 3

    assert len(mailbox.messages) == 1
    mail = message_from_bytes(mailbox.messages[0])
    assert mail["To"] == "front@example.com"
    subject = str(make_header(decode_header(mail["Subject"])))
    assert "新着電話" in subject and TRACKING in subject
    text = mail.get_payload(decode=True).decode()
    assert "answered" in text and "+819012345678" in text


@pytest.mark.stores("sqlite")  # retry logic does not depend on the store
async def test_a_dead_endpoint_is_given_up_after_the_attempts(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    telephony.notifier.attempts = 3
    receiver = Receiver(failures=100, status=500)
    async with serving(receiver) as url:
        await _webhook(db, url)
        await _one_call(tclient, telephony, "CAN2")
    assert len(receiver.requests) == 3
    row = await db.fetchone("SELECT status, attempts, last_error FROM notification_deliveries")
    assert row == {"status": "failed", "attempts": 3, "last_error": "HTTP 500"}


@pytest.mark.stores("sqlite")  # retry logic does not depend on the store
async def test_a_client_error_is_not_retried(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    receiver = Receiver(failures=100, status=410)
    async with serving(receiver) as url:
        await _webhook(db, url)
        await _one_call(tclient, telephony, "CAN3")
    assert len(receiver.requests) == 1


@pytest.mark.stores("sqlite")
async def test_targets_are_checked(db: Any, demo: Any) -> None:
    with pytest.raises(ValueError):
        await targets.add_target(db, advertiser_id=1, kind="sms", address="x", event="completed")
    with pytest.raises(ValueError):
        await targets.add_target(
            db, advertiser_id=1, kind="webhook", address="ftp://x", event="completed"
        )
    with pytest.raises(ValueError):
        await targets.add_target(
            db, advertiser_id=1, kind="email", address="nobody", event="completed"
        )
    with pytest.raises(LookupError):
        await targets.add_target(
            db, advertiser_id=42, kind="email", address="a@b.c", event="completed"
        )
    assert await targets.list_targets(db) == []


@pytest.mark.stores("sqlite")
async def test_blocked_calls_are_not_announced(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    from backend.telephony import config

    await config.block(db, advertiser_id=1, pattern="+819012345678")
    await telephony.table.load()
    receiver = Receiver()
    async with serving(receiver) as url:
        await _webhook(db, url, "started")
        await _webhook(db, url)
        await _one_call(tclient, telephony, "CAN4")
    assert receiver.requests == []
    assert await db.fetchval("SELECT status FROM calls") == "blocked"
