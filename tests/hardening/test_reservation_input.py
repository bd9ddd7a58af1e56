"""Bad input to the reserved calls' public endpoints: the lead's page and the Twilio
callbacks answer 4xx and change nothing, never 500."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from backend.settings import Settings
from tests.telephony.conftest import AUTH_TOKEN, BASE, call_params, sign


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(twilio_auth_token=AUTH_TOKEN)


async def test_the_rebooking_page_refuses_forged_and_bad_requests(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    for token in ("x", "MTI.forged", "a" * 600, "%00", "MTI"):
        page = await client.get(f"/r/{token}")
        assert page.status_code == 404, token
        posted = await client.post(f"/r/{token}", data={"action": "cancel"})
        assert posted.status_code == 404, token
    # A real token of a reservation that does not exist: 404 too.
    token = app.state.reservations.signer.sign(424242)
    assert (await client.get(f"/r/{token}")).status_code == 404
    huge = await client.post(f"/r/{token}", content=b"a=" + b"x" * 100_000)
    assert huge.status_code in (404, 413)


async def test_reservation_callbacks_are_signed_and_bounded(client: httpx.AsyncClient) -> None:
    params = call_params(DialCallStatus="completed", DialCallDuration="40")
    unsigned = await client.post("/twilio/reservations/dial?attempt=1", data=params)
    assert unsigned.status_code == 403
    for attempt in ("", "x", "1" * 30, "-1"):
        url = f"/twilio/reservations/dial?attempt={attempt}"
        signed = await client.post(
            url, data=params, headers={"X-Twilio-Signature": sign(BASE + url, params)}
        )
        assert signed.status_code == 400, attempt
    # An attempt that does not exist: nothing to record, the call is hung up.
    url = "/twilio/reservations/dial?attempt=99"
    gone = await client.post(
        url, data=params, headers={"X-Twilio-Signature": sign(BASE + url, params)}
    )
    assert gone.status_code == 200
    for path in ("/twilio/sms/status", "/twilio/sms/inbound"):
        form = {"MessageSid": "SM1", "MessageStatus": "delivered", "From": "x", "Body": "STOP"}
        assert (await client.post(path, data=form)).status_code == 403
        signed = await client.post(
            path, data=form, headers={"X-Twilio-Signature": sign(BASE + path, form)}
        )
        assert signed.status_code == 200  # not ours / not a number: nothing recorded
