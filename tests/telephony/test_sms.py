"""Text messages (backend/telephony/sms.py) through the Twilio stand-in's Messages API."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from backend.settings import Settings
from backend.telephony import sms, twilio_rest
from tests.support.twilio import MessagesApi, inbound_text, message_status
from tests.telephony.conftest import ACCOUNT, AUTH_TOKEN, BASE

LEAD = "+819012345678"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(twilio_account_sid=ACCOUNT, sms_sender="CALLPATH", public_url=BASE)


async def _send(app: Starlette, key: str, to: str = LEAD, body: str = "hello") -> sms.Sent:
    return await app.state.telephony.sms.send(
        app.state.db, to=to, body=body, dedupe_key=key, ref="test:1", kind="test"
    )


async def _refused(
    app: Starlette, messages_api: MessagesApi, refusal: tuple[int, int], key: str
) -> sms.SmsError:
    """What sending ``key`` raises when the Messages API answers ``(status, Twilio code)``."""
    messages_api.refusals.append(refusal)
    with pytest.raises(sms.SmsError) as raised:
        await _send(app, key)
    return raised.value


async def test_a_text_goes_through_the_messages_api_once_per_key(
    app: Starlette, messages_api: MessagesApi
) -> None:
    sent = await _send(app, "k1", body="明日14:00にお電話します")
    assert sent.status == "queued" and sent.sid.startswith("SM")
    [message] = messages_api.messages
    assert (message.to, message.sender) == (LEAD, "CALLPATH")
    assert message.body == "明日14:00にお電話します"
    assert message.status_callback == BASE + "/twilio/sms/status"
    # The same key again (a job run twice): nothing more is sent.
    again = await _send(app, "k1")
    assert again.status == "duplicate"
    assert len(messages_api.messages) == 1
    row = await app.state.db.fetchone("SELECT * FROM sms_messages WHERE dedupe_key = 'k1'")
    assert row["provider_sid"] == sent.sid and row["status"] == "queued"


async def test_delivery_status_callbacks_are_signed_and_only_move_forward(
    app: Starlette, client: httpx.AsyncClient, messages_api: MessagesApi
) -> None:
    await _send(app, "k2")
    [message] = messages_api.messages
    assert (await message_status(client, AUTH_TOKEN, message, "delivered")).status_code == 200
    # A late 'sent' does not move it back.
    assert (await message_status(client, AUTH_TOKEN, message, "sent")).status_code == 200
    row = await app.state.db.fetchone("SELECT * FROM sms_messages WHERE dedupe_key = 'k2'")
    assert row["status"] == "delivered" and row["delivered_ms"]
    # Unsigned (or signed with another token): refused, nothing changes.
    forged = await message_status(client, "not-the-token", message, "failed")
    assert forged.status_code == 403
    assert (
        await app.state.db.fetchval("SELECT status FROM sms_messages WHERE dedupe_key = 'k2'")
        == "delivered"
    )


@pytest.mark.parametrize("word", ["STOP", "stop", "停止", "配信停止", "ＳＴＯＰ"])
async def test_a_number_that_replied_stop_is_never_texted_again(
    app: Starlette, client: httpx.AsyncClient, messages_api: MessagesApi, word: str
) -> None:
    url = BASE + "/twilio/sms/inbound"
    reply = await inbound_text(client, AUTH_TOKEN, url, sender=LEAD, to="+815017000001", body=word)
    assert reply.status_code == 200
    assert await sms.opted_out(app.state.db, LEAD)
    refused = await _send(app, "after-stop")
    assert refused.status == "opted_out"
    assert messages_api.messages == []
    # START opts back in.
    await inbound_text(client, AUTH_TOKEN, url, sender=LEAD, to="+815017000001", body="START")
    assert (await _send(app, "after-start")).status == "queued"


async def test_twilio_refusing_an_unsubscribed_number_records_the_opt_out(
    app: Starlette, messages_api: MessagesApi
) -> None:
    assert (await _refused(app, messages_api, (400, 21610), "k3")).permanent
    assert await sms.opted_out(app.state.db, LEAD)


async def test_a_failed_send_is_tried_again_under_the_same_key(
    app: Starlette, messages_api: MessagesApi
) -> None:
    assert not (await _refused(app, messages_api, (503, 20500), "k4")).permanent
    assert (await _send(app, "k4")).status == "queued"
    assert len(messages_api.messages) == 1


def test_senders() -> None:
    assert sms.parse_sender("+81 50-1700-0001") == sms.Sender("number", "+815017000001")
    assert sms.parse_sender("CALLPATH") == sms.Sender("alphanumeric", "CALLPATH")
    service = "MG" + "a" * 32
    assert sms.parse_sender(service).fields() == {"messaging_service_sid": service}
    for bad in ("", "12345678901234", "TOO LONG NAME", "bad!"):
        with pytest.raises(ValueError):
            sms.parse_sender(bad)


def test_templates_fill_only_offered_places() -> None:
    fields = {"advertiser": "ABC不動産", "start": "14:00"}
    assert sms.render("{advertiser}から{start}にお電話します", fields) == (
        "ABC不動産から14:00にお電話します"
    )
    for bad in (
        "{advertiser.__class__}",
        "{advertiser[0]}",
        "{advertiser!r}",
        "{start:>99999}",
        "{secret_key}",
        "{",
    ):
        with pytest.raises(ValueError):
            sms.render(bad, fields)
    # A value is never read as a template.
    assert sms.render("{advertiser}", {"advertiser": "{start}"}) == "{start}"


def test_unconfigured_sms_fails_permanently(settings: Settings) -> None:
    from backend.telephony.service import build_sms

    assert not build_sms(settings.replace(twilio_account_sid="")).configured


async def test_the_rest_client_rebases_twilio_urls() -> None:
    client = twilio_rest.RestHttpClient("http://127.0.0.1:9/")
    assert client.rebase(sms.TWILIO_API + "/2010-04-01/Accounts/AC/Messages.json") == (
        "http://127.0.0.1:9/2010-04-01/Accounts/AC/Messages.json"
    )
    assert client.rebase("https://lookups.twilio.com/v2/x") == "https://lookups.twilio.com/v2/x"
    await client.close()
