"""Notifications as an attacker and a curious member would use them: webhooks aimed into
the server's own network (when saved, when sent, through DNS rebinding), caller numbers a
member may not see, and secrets in webhook URLs reaching the log.

Here ``CALLPATH_OUTBOUND_ALLOW_HOSTS`` is off, as it is by default: the local receivers
stand for the internal services an attacker would aim at."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email import message_from_bytes
from typing import Any

import httpx
import orjson
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from attribution.outbound import OutboundPolicy
from backend import accounts
from backend.notify import targets
from backend.notify.mail import SmtpConfig
from pool.store import now_ms
from tests.dashboard.conftest import login
from tests.support.server import free_port
from tests.telephony.conftest import Mailbox, call_params, post_twilio
from tests.telephony.test_notify import Receiver, serving

CALLER = "+819012345678"  # call_params' caller
MASKED = "+81******5678"  # attribution.exports.mask_caller, the API's rule

INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://127.9.9.9/",
    "http://localhost:8000/",
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/admin",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0:8000/",
    "http://224.0.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://evil.example\\@127.0.0.1/",
]


@pytest.fixture
def mailbox() -> Any:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


async def _one_call(tclient: httpx.AsyncClient, telephony: Any, sid: str) -> None:
    """One call through voice, dial and status; returns once its notifications went out."""
    await post_twilio(tclient, "/twilio/voice", call_params(sid=sid))
    await post_twilio(
        tclient,
        "/twilio/dial",
        call_params(sid=sid, DialCallStatus="completed", DialCallDuration="9"),
    )
    await post_twilio(
        tclient, "/twilio/status", call_params(sid=sid, CallStatus="completed", CallDuration="12")
    )
    assert await telephony.recorder.drain(10)
    await telephony.notifier.wait(30)


def resolver(*answers: list[str]) -> Callable[[str, int], Any]:
    """A DNS stand-in: each look-up gives the next answer (the last one from then on)."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host.endswith(".unknown"):
            raise OSError("no such name")
        return answers[min(len(calls), len(answers)) - 1]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def _raw_target(db: Any, url: str, **extra: Any) -> int:
    """A target stored without the checks, as one saved before them would be."""
    async with db.write() as tx:
        target: int = await tx.fetchval(
            "INSERT INTO notification_targets (advertiser_id, kind, address, secret, event,"
            " created_ms) VALUES (1, 'webhook', :u, '', 'completed', :t) RETURNING id",
            {"u": url, "t": now_ms()},
        )
    return target


@pytest.mark.stores("sqlite")  # the check happens before anything is stored
@pytest.mark.parametrize("url", INTERNAL_URLS)
async def test_internal_webhook_urls_are_refused_when_saved(db: Any, demo: Any, url: str) -> None:
    with pytest.raises(ValueError, match="may not point"):
        await targets.add_target(
            db, advertiser_id=1, kind="webhook", address=url, event="completed"
        )
    assert await targets.list_targets(db) == []


@pytest.mark.stores("sqlite")
async def test_a_name_that_resolves_inside_is_refused_when_saved(db: Any, demo: Any) -> None:
    policy = OutboundPolicy(resolve=resolver(["93.184.215.14", "10.1.2.3"]))
    with pytest.raises(ValueError, match=r"10\.1\.2\.3 is a private address"):
        await targets.add_target(
            db,
            advertiser_id=1,
            kind="webhook",
            address="https://hooks.corp.example/x",
            event="completed",
            policy=policy,
        )
    # A name that does not resolve yet is taken; it is checked again when sent.
    await targets.add_target(
        db,
        advertiser_id=1,
        kind="webhook",
        address="https://not-yet.unknown/x",
        event="completed",
        policy=policy,
    )


async def test_a_member_cannot_aim_a_webhook_at_the_server(
    tclient: httpx.AsyncClient, db: Any, telephony: Any
) -> None:
    async with db.write() as tx:
        await accounts.create_user(
            tx, email="m@a.example", password="member-pass-1", advertiser_id=1, now_ms=now_ms()
        )
    csrf = await login(tclient, "m@a.example", "member-pass-1")
    for url in ("http://169.254.169.254/latest/meta-data/", "http://2130706433:8000/"):
        r = await tclient.post(
            "/dashboard/settings/notifications",
            data={"csrf": csrf, "kind": "webhook", "address": url, "event": "completed"},
        )
        assert r.status_code == 422, r.text
    assert await db.fetchval("SELECT COUNT(*) FROM notification_targets") == 0


async def test_a_webhook_saved_before_the_check_is_refused_when_sent(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    receiver = Receiver()
    async with serving(receiver) as url:
        port = url.split(":")[2].split("/")[0]
        await _raw_target(db, url)
        await _raw_target(db, f"http://2130706433:{port}/hook")
        await _raw_target(db, f"http://[::ffff:127.0.0.1]:{port}/hook")
        await _one_call(tclient, telephony, "CASSRF1")
    assert receiver.requests == []
    rows = await db.fetchall("SELECT status, attempts, last_error FROM notification_deliveries")
    assert len(rows) == 3
    for row in rows:
        # Refused, not retried: retrying cannot make the address public.
        assert (row["status"], row["attempts"]) == ("failed", 1)
        assert "loopback" in row["last_error"] or "private" in row["last_error"]


async def test_dns_rebinding_is_refused_when_sent(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    receiver = Receiver()
    async with serving(receiver) as url:
        port = url.split(":")[2].split("/")[0]
        # Public when saved, this machine when sent.
        resolve = resolver(["93.184.215.14"], ["127.0.0.1"])
        policy = OutboundPolicy(resolve=resolve)
        hook = f"http://rebind.example:{port}/hook"
        await targets.add_target(
            db, advertiser_id=1, kind="webhook", address=hook, event="completed", policy=policy
        )
        telephony.notifier.policy = policy
        await _one_call(tclient, telephony, "CASSRF2")
    assert receiver.requests == []
    assert resolve.calls == ["rebind.example", "rebind.example"]  # type: ignore[attr-defined]
    row = await db.fetchone("SELECT status, last_error FROM notification_deliveries")
    assert row["status"] == "failed"
    assert "127.0.0.1 is a loopback address" in row["last_error"]


async def test_a_name_is_resolved_once_and_the_checked_address_is_used(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    """An operator's own receiver, allowed by name: the request goes to the address the
    look-up gave (the system resolver does not know the name at all), once, with the
    URL's host in the Host header."""
    receiver = Receiver()
    async with serving(receiver) as url:
        port = url.split(":")[2].split("/")[0]
        resolve = resolver(["127.0.0.1"], ["10.9.9.9"])
        policy = OutboundPolicy.parse("receiver.internal", resolve=resolve)
        hook = f"http://receiver.internal:{port}/hook"
        await targets.add_target(
            db, advertiser_id=1, kind="webhook", address=hook, event="completed", policy=policy
        )
        telephony.notifier.policy = policy
        await _one_call(tclient, telephony, "CASSRF3")
    assert len(receiver.requests) == 1
    headers, _ = receiver.requests[0]
    assert headers["host"] == f"receiver.internal:{port}"
    assert resolve.calls == ["receiver.internal"]  # type: ignore[attr-defined]


class Redirector(Receiver):
    """Answers every POST with a redirect to ``location``."""

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(({}, b""))
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", self.location.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def test_a_redirect_is_not_followed(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    inside = Receiver()
    async with serving(inside) as inside_url:
        outside = Redirector(inside_url)
        async with serving(outside) as outside_url:
            # The first receiver is the operator's own (allowed); where it redirects is not.
            telephony.notifier.policy = OutboundPolicy.parse("127.0.0.1")
            await _raw_target(db, outside_url)
            await _one_call(tclient, telephony, "CASSRF4")
    assert len(outside.requests) == 1 and inside.requests == []
    row = await db.fetchone("SELECT status, attempts, last_error FROM notification_deliveries")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "302" in row["last_error"]


async def test_a_failed_webhook_is_logged_without_its_secret_path(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    telephony.notifier.attempts = 1
    secret_path = "/services/T000/B000/XXXXsecretXXXX?token=hunter2"
    receiver = Receiver(failures=100, status=500)
    async with serving(receiver) as url:
        telephony.notifier.policy = OutboundPolicy.parse("127.0.0.1")
        hook = url.replace("/hook", secret_path)
        await _raw_target(db, hook)
        with caplog.at_level(logging.WARNING, logger="callpath.notify"):
            await _one_call(tclient, telephony, "CASSRF5")
    assert len(receiver.requests) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "failed" in logged
    assert "XXXXsecretXXXX" not in logged and "hunter2" not in logged
    assert url.split("/hook")[0] in logged  # the host is still named, to find the target
    stored = await db.fetchval("SELECT last_error FROM notification_deliveries")
    assert "XXXXsecretXXXX" not in stored and "hunter2" not in stored


# --- caller masking ----------------------------------------------------------------------


async def _member_sets_up(
    tclient: httpx.AsyncClient, db: Any, url: str, *, sees_callers: bool
) -> int:
    async with db.write() as tx:
        user = await accounts.create_user(
            tx, email="m@a.example", password="member-pass-1", advertiser_id=1, now_ms=now_ms()
        )
        await tx.execute(
            "UPDATE users SET can_see_callers = :c WHERE id = :u",
            {"c": int(sees_callers), "u": user},
        )
    csrf = await login(tclient, "m@a.example", "member-pass-1")
    for kind, address in (("webhook", url), ("email", "front@a.example")):
        r = await tclient.post(
            "/dashboard/settings/notifications",
            data={"csrf": csrf, "kind": kind, "address": address, "event": "completed"},
        )
        assert r.status_code == 303, r.text
    return user


def _deliver_locally(app: Starlette, telephony: Any, mailbox: Any) -> None:
    """Mail goes to ``mailbox``; webhooks may reach the local receivers, when saved and sent."""
    telephony.notifier.smtp = SmtpConfig(host="127.0.0.1", port=mailbox.port)
    telephony.notifier.policy = OutboundPolicy.parse("127.0.0.1")
    app.state.outbound = OutboundPolicy.parse("127.0.0.1")


@asynccontextmanager
async def _member_notified(
    tclient: httpx.AsyncClient,
    app: Starlette,
    telephony: Any,
    db: Any,
    mailbox: Any,
    *,
    sees_callers: bool,
) -> AsyncIterator[tuple[Receiver, int]]:
    """A member whose webhook (to a local receiver) and e-mail (to ``mailbox``) hear of
    completed calls, while the receiver runs. Yields the receiver and the member's id."""
    _deliver_locally(app, telephony, mailbox)
    receiver = Receiver()
    async with serving(receiver) as url:
        yield receiver, await _member_sets_up(tclient, db, url, sees_callers=sees_callers)


def _callers(receiver: Receiver, mailbox: Any) -> list[tuple[str, bool]]:
    """(webhook caller, whether the full number is in the e-mail) per call, in order."""
    hooks = [orjson.loads(body)["call"]["caller"] for _, body in receiver.requests]
    mails = [
        CALLER in message_from_bytes(m).get_payload(decode=True).decode() for m in mailbox.messages
    ]
    return list(zip(hooks, mails, strict=True))


async def test_notifications_mask_callers_for_a_member_who_may_not_see_them(
    tclient: httpx.AsyncClient, app: Starlette, telephony: Any, db: Any, mailbox: Any
) -> None:
    async with _member_notified(tclient, app, telephony, db, mailbox, sees_callers=False) as m:
        receiver, user = m
        await _one_call(tclient, telephony, "CAMASK1")
        # Granted later: the next call is announced in full.
        await db.execute("UPDATE users SET can_see_callers = 1 WHERE id = :u", {"u": user})
        await _one_call(tclient, telephony, "CAMASK2")
        # Demoted again: masked again.
        await db.execute("UPDATE users SET can_see_callers = 0 WHERE id = :u", {"u": user})
        await _one_call(tclient, telephony, "CAMASK3")
    assert _callers(receiver, mailbox) == [(MASKED, False), (CALLER, True), (MASKED, False)]
    masked = message_from_bytes(mailbox.messages[0]).get_payload(decode=True).decode()
    assert MASKED in masked


async def test_a_target_of_a_member_moved_to_another_advertiser_stops(
    tclient: httpx.AsyncClient, app: Starlette, telephony: Any, db: Any, mailbox: Any
) -> None:
    async with _member_notified(tclient, app, telephony, db, mailbox, sees_callers=True) as m:
        receiver, user = m
        async with db.write() as tx:
            other = await accounts.create_advertiser(tx, "Other", now_ms())
            await tx.execute(
                "UPDATE users SET advertiser_id = :a WHERE id = :u", {"a": other, "u": user}
            )
        await _one_call(tclient, telephony, "CAMASK4")
    assert receiver.requests == [] and mailbox.messages == []
    rows = await db.fetchall("SELECT status, last_error FROM notification_deliveries")
    assert len(rows) == 2
    assert all(r["status"] == "failed" and "no longer" in r["last_error"] for r in rows)
