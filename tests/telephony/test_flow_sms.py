"""A call flow's ``sms`` steps (issue #18): a missed-call text-back to the caller and a
new-call alert to staff, with the call's source and keyword, sent through the Twilio
stand-in's Messages API once the call has ended; a caller who replied STOP is not texted."""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx
import pytest
from starlette.applications import Starlette

from backend.api.jobs import job_runner
from backend.settings import Settings
from backend.telephony import flowsms
from pool.store import now_ms
from tests.support.twilio import MessagesApi, TwilioStandIn, inbound_text
from tests.telephony.conftest import (
    ACCOUNT,
    AUTH_TOKEN,
    BASE,
    TARGET,
    TRACKING,
    call_params,
    post_twilio,
)
from tests.telephony.test_call_touch import _visit
from tests.telephony.test_flows import CALLER, STAFF, call_row, journey, set_flow

PAGE = "http://127.0.0.1/examples/"
# docs/telephony.md, "a shop with sequential ringing and SMS text-back".
SHOP = {
    "name": "shop",
    "start": "alert",
    "steps": {
        "alert": {
            "type": "sms",
            "to": [STAFF[2]],
            "template": "着信 {caller} 経路:{source} キーワード:{keyword} ({time})",
            "next": "staff",
        },
        "staff": {
            "type": "ring",
            "mode": "sequential",
            "destinations": [
                {"number": STAFF[0], "timeout_s": 15},
                {"number": STAFF[1], "timeout_s": 15},
            ],
            "no_answer": "textback",
            "busy": "textback",
        },
        "textback": {
            "type": "sms",
            "to": "caller",
            "when": "missed",
            "template": "{site}です。「{keyword}」でお電話いただきありがとうございます。"
            "ただいま出られませんでした。折り返しご連絡します。",
            "next": "sorry",
        },
        "sorry": {
            "type": "message",
            "prompt": {"say": "ただいま電話に出られません。後ほどSMSでご連絡します。"},
        },
    },
}
MISSED: dict[str, str | float] = {STAFF[0]: "no-answer", STAFF[1]: "no-answer"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Durable jobs run when the test says (no background runner).
    return settings.replace(
        twilio_account_sid=ACCOUNT, sms_sender="CALLPATH", public_url=BASE, jobs_poll_seconds=0
    )


async def _ad_visit(tclient: httpx.AsyncClient) -> str:
    """A visitor from a Google ad for 歯医者 (keyword): the number they see."""
    query = "?gclid=Cj0-flow-sms&utm_campaign=implant&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85"
    seen = await _visit(tclient, PAGE + query)
    number: str = {s["target"]: s["number"] for s in seen["swaps"]}[TARGET]
    return number


class Shop(NamedTuple):
    """What a text-back test works with: the app, its Twilio client, telephony, store and
    the Messages API stand-in."""

    app: Starlette
    tclient: httpx.AsyncClient
    telephony: Any
    db: Any
    messages_api: MessagesApi


@pytest.fixture
def shop(
    app: Starlette,
    tclient: httpx.AsyncClient,
    telephony: Any,
    db: Any,
    messages_api: MessagesApi,
) -> Shop:
    return Shop(app, tclient, telephony, db, messages_api)


async def _texts(app: Starlette, telephony: Any, **clock: int) -> dict[str, int]:
    assert await telephony.recorder.drain(10)
    return await job_runner(app).run_due(**clock)


async def test_a_missed_call_texts_the_caller_with_the_keyword_and_not_after_stop(
    shop: Shop,
) -> None:
    app, tclient, telephony, db, messages_api = shop
    await set_flow(db, telephony, SHOP)
    number = await _ad_visit(tclient)
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=MISSED)
    call = await twilio.call(to=number, caller=CALLER, sid="CASMS1")
    assert call.attempts == [((STAFF[0],), "no-answer"), ((STAFF[1],), "no-answer")]
    assert "ただいま電話に出られません。後ほどSMSでご連絡します。" in call.heard
    assert messages_api.messages == []  # nothing is sent while the call runs
    assert (await _texts(app, telephony)) == {"done": 2}
    [textback] = messages_api.to(CALLER)
    assert "「歯医者」でお電話いただきありがとうございます。" in textback.body
    assert textback.body.startswith("Demo")  # {site}
    assert textback.sender == "CALLPATH"
    assert textback.status_callback == BASE + "/twilio/sms/status"
    [alert] = messages_api.to(STAFF[2])
    assert alert.body.startswith("着信 090-1234-5678 経路:google キーワード:歯医者 (")
    row = await call_row(db, telephony, "CASMS1")
    steps = await journey(db, row["id"])
    assert ("sms", "", "staff") in steps and ("sms", "", "caller") in steps
    assert ("sms_sent", "", "queued") in steps and ("sms_sent", STAFF[2], "queued") in steps
    # The same jobs again (a lease that ran out): no text twice.
    assert await _texts(app, telephony) == {}

    # The caller replies 停止 (STOP): the next missed call texts staff only.
    reply = await inbound_text(
        tclient, AUTH_TOKEN, BASE + "/twilio/sms/inbound", sender=CALLER, to=number, body="停止"
    )
    assert reply.status_code == 200
    await twilio.call(to=number, caller=CALLER, sid="CASMS2")
    assert (await _texts(app, telephony)) == {"done": 2}
    assert len(messages_api.to(CALLER)) == 1
    assert len(messages_api.to(STAFF[2])) == 2
    second = await call_row(db, telephony, "CASMS2")
    assert ("sms_sent", "", "opted_out") in await journey(db, second["id"])
    refused = await db.fetchval(
        "SELECT status FROM sms_messages WHERE to_number = :to AND ref = :ref",
        {"to": CALLER, "ref": f"call:{second['id']}"},
    )
    assert refused == "opted_out"


@pytest.mark.parametrize("answered", [True, False])
async def test_when_chooses_by_the_calls_outcome(
    shop: Shop,
    answered: bool,
) -> None:
    app, tclient, telephony, db, messages_api = shop
    """A thank-you text (``when: answered``) passed before the ring goes only when someone
    answered; the text-back (``when: missed``) is only reached when no one did."""
    flow = {**SHOP, "steps": {**SHOP["steps"]}}
    flow["steps"]["alert"] = {**SHOP["steps"]["alert"], "next": "thanks"}
    flow["steps"]["thanks"] = {
        "type": "sms",
        "to": "caller",
        "when": "answered",
        "template": "{advertiser}へのお電話ありがとうございました。",
        "next": "staff",
    }
    await set_flow(db, telephony, flow)
    phones: dict[str, str | float] = {STAFF[0]: "no-answer", STAFF[1]: 5.0}
    sid = f"CASMSW{int(answered)}"
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=phones if answered else MISSED)
    call = await twilio.call(to=TRACKING, caller=CALLER, sid=sid)
    assert (call.answered_by == STAFF[1]) == answered
    await _texts(app, telephony)
    bodies = [m.body for m in messages_api.to(CALLER)]
    if answered:
        assert bodies == ["Demo Dental Clinicへのお電話ありがとうございました。"]
    else:
        assert len(bodies) == 1 and "ただいま出られませんでした" in bodies[0]
    # The staff alert goes whatever the outcome; no ad visit: no keyword.
    [alert] = messages_api.to(STAFF[2])
    assert "キーワード: (" in alert.body
    row = await call_row(db, telephony, sid)
    skipped = ("sms_sent", "", "skipped: missed")
    assert (skipped in await journey(db, row["id"])) == (not answered)


async def test_a_text_waits_for_the_end_of_the_call(
    shop: Shop,
) -> None:
    app, tclient, telephony, db, messages_api = shop
    """Planned while the call runs; sent at the caller's status callback, or
    :data:`flowsms.LATEST_MS` later when that callback never comes."""
    await set_flow(db, telephony, SHOP)
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CASMS4"))
    assert b"<Dial" in r.content and b"<Say" not in r.content  # the alert step waits for nothing
    assert await _texts(app, telephony) == {}  # the call is still on
    assert messages_api.messages == []
    late = now_ms() + flowsms.LATEST_MS + 1000
    assert await _texts(app, telephony, now=late) == {"done": 1}
    assert len(messages_api.to(STAFF[2])) == 1
    # Another call: its status callback makes its text due at once.
    await post_twilio(tclient, "/twilio/voice", call_params(sid="CASMS5"))
    assert await _texts(app, telephony) == {}
    done = call_params(sid="CASMS5", CallStatus="completed", CallDuration="20")
    await post_twilio(tclient, "/twilio/status", done)
    assert await _texts(app, telephony) == {"done": 1}
    assert len(messages_api.to(STAFF[2])) == 2


async def test_a_refused_send_is_tried_again_and_sent_once(
    shop: Shop,
) -> None:
    app, tclient, telephony, db, messages_api = shop
    await set_flow(db, telephony, SHOP)
    messages_api.refusals.append((503, 20500))  # the staff alert: Twilio has a bad minute
    await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=MISSED).call(
        to=TRACKING, caller=CALLER, sid="CASMS6"
    )
    first = await _texts(app, telephony)
    assert first == {"pending": 1, "done": 1}
    assert len(messages_api.to(CALLER)) == 1 and messages_api.to(STAFF[2]) == []
    retried = await _texts(app, telephony, now=now_ms() + 3_600_000)
    assert retried == {"done": 1}
    assert len(messages_api.to(STAFF[2])) == 1 and len(messages_api.to(CALLER)) == 1
