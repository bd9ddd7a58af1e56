"""The voice webhook: signatures checked with Twilio's own validator, TwiML that dials."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from backend.settings import Settings
from tests.telephony.conftest import (
    BASE,
    TARGET,
    TRACKING,
    add_source_number,
    call_params,
    post_twilio,
    sign,
)

# Signatures and TwiML do not depend on the store; the callback and fail-open tests run
# on both stores.
pytestmark = pytest.mark.stores("sqlite")


def dial_of(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    dial = root.find("Dial")
    assert dial is not None, body
    return dial


async def test_a_signed_call_is_answered_with_a_dial_to_the_target(
    tclient: httpx.AsyncClient,
) -> None:
    r = await post_twilio(tclient, "/twilio/voice", call_params())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/xml")
    dial = dial_of(r.content)
    assert dial.findtext("Number") == TARGET
    assert dial.get("answerOnBridge") == "true"
    assert dial.get("timeout") == "30"
    assert dial.get("action") == BASE + "/twilio/dial"
    assert dial.get("callerId") is None  # policy 'caller': the business sees the caller
    assert dial.get("record") is None


async def test_each_tracking_number_dials_its_own_target(
    tclient: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    for target in demo["targets"]:
        for number in target["tracking_numbers"]:
            r = await post_twilio(
                tclient, "/twilio/voice", call_params(sid="CA" + number, to=number)
            )
            assert dial_of(r.content).findtext("Number") == target["number"]


async def test_tampered_parameters_are_refused(tclient: httpx.AsyncClient) -> None:
    params = call_params()
    signature = sign(BASE + "/twilio/voice", params)
    tampered = {**params, "From": "+819099999999"}
    r = await tclient.post(
        "/twilio/voice", data=tampered, headers={"X-Twilio-Signature": signature}
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    added = {**params, "Injected": "1"}
    r = await tclient.post("/twilio/voice", data=added, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 403


async def test_a_signature_for_another_url_is_refused(tclient: httpx.AsyncClient) -> None:
    params = call_params()
    for url in ("http://testserver/twilio/status", "https://evil.example/twilio/voice"):
        r = await tclient.post(
            "/twilio/voice", data=params, headers={"X-Twilio-Signature": sign(url, params)}
        )
        assert r.status_code == 403


async def test_a_missing_or_foreign_signature_is_refused(tclient: httpx.AsyncClient) -> None:
    params = call_params()
    r = await tclient.post("/twilio/voice", data=params)
    assert r.status_code == 403
    r = await tclient.post(
        "/twilio/voice",
        data=params,
        headers={"X-Twilio-Signature": sign(BASE + "/twilio/voice", params, token="other")},
    )
    assert r.status_code == 403
    for path in ("/twilio/status", "/twilio/dial", "/twilio/recording"):
        assert (await tclient.post(path, data=params)).status_code == 403


async def test_parameters_twilio_adds_later_do_not_break_validation(
    tclient: httpx.AsyncClient,
) -> None:
    params = call_params(StirVerstat="TN-Validation-Passed-A", CallToken="abc", FutureField2031="x")
    r = await post_twilio(tclient, "/twilio/voice", params)
    assert r.status_code == 200
    assert dial_of(r.content).findtext("Number") == TARGET


async def test_the_signature_covers_the_public_url_behind_a_proxy(
    app: Any, telephony: Any, tclient: httpx.AsyncClient
) -> None:
    app.state.settings = telephony.settings = telephony.settings.replace(
        public_url="https://calls.example.com/"
    )
    params = call_params()
    # Signed for the address Twilio used, not the one the proxy forwarded to.
    r = await post_twilio(
        tclient, "/twilio/voice", params, url="https://calls.example.com/twilio/voice"
    )
    assert r.status_code == 200
    assert dial_of(r.content).get("action") == "https://calls.example.com/twilio/dial"
    # Twilio sometimes signs with the default port spelled out.
    r = await post_twilio(
        tclient, "/twilio/voice", params, url="https://calls.example.com:443/twilio/voice"
    )
    assert r.status_code == 200
    r = await post_twilio(tclient, "/twilio/voice", params)  # the internal URL
    assert r.status_code == 403


async def test_no_auth_token_configured_refuses_everything(
    app: Any, telephony: Any, tclient: httpx.AsyncClient
) -> None:
    telephony.settings = telephony.settings.replace(twilio_auth_token="")
    params = call_params()
    r = await tclient.post(
        "/twilio/voice",
        data=params,
        headers={"X-Twilio-Signature": sign(BASE + "/twilio/voice", params, token="")},
    )
    assert r.status_code == 403


async def test_bad_input_gets_a_4xx_and_stores_nothing(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    big = {"CallSid": "CA1", "Junk": "x" * 70000}
    r = await post_twilio(tclient, "/twilio/voice", big)
    assert r.status_code == 413
    no_sid = call_params()
    del no_sid["CallSid"]
    r = await post_twilio(tclient, "/twilio/voice", no_sid)
    assert r.status_code == 400
    r = await tclient.post(
        "/twilio/voice",
        content=b"\xff\xfe=\xff",
        headers={"X-Twilio-Signature": "x", "content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code in (400, 403)
    await telephony.recorder.drain(5)
    assert await db.fetchval("SELECT COUNT(*) FROM calls") == 0


async def test_unknown_numbers_are_rejected_and_still_recorded(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAX", to="+815099999999"))
    root = ET.fromstring(r.content)
    assert root.find("Reject") is not None
    assert await telephony.recorder.drain(5)
    row = await db.fetchone("SELECT tracking_number, match_method FROM calls")
    assert row == {"tracking_number": "+815099999999", "match_method": "none"}


async def test_a_number_added_after_the_last_refresh_is_found(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, demo: dict[str, Any]
) -> None:
    await add_source_number(db, "+815011112222", "+81311112222", source_label="チラシ")
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAN", to="+815011112222"))
    assert dial_of(r.content).findtext("Number") == "+81311112222"


@pytest.mark.parametrize("policy", ["caller", "tracking"])
async def test_caller_id_policy(
    policy: str, app: Any, telephony: Any, tclient: httpx.AsyncClient, settings: Settings
) -> None:
    from dataclasses import replace

    telephony.table.defaults = replace(telephony.table.defaults, caller_id=policy)
    r = await post_twilio(tclient, "/twilio/voice", call_params())
    expected = TRACKING if policy == "tracking" else None
    assert dial_of(r.content).get("callerId") == expected


async def test_shared_key_signatures_with_hmac_sha256(
    telephony: Any, tclient: httpx.AsyncClient
) -> None:
    from twilio.request_validator import RequestValidator

    telephony.settings = telephony.settings.replace(twilio_signing_key="shared-key-secret")
    params = call_params()
    url = BASE + "/twilio/voice"
    sha256 = RequestValidator("shared-key-secret").compute_signature(
        url, params, algorithm="HMAC_SHA256"
    )
    settings_header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    r = await tclient.post(
        "/twilio/voice",
        data=params,
        headers={
            "X-Twilio-Signature": sha256,
            "X-Twilio-Webhooks-Signature-Settings": settings_header,
        },
    )
    assert r.status_code == 200
    assert dial_of(r.content).findtext("Number") == TARGET
    # The same signature claiming another algorithm, or an algorithm nobody knows: refused.
    for header in ("key=k,algorithm=HMAC_SHA1", "key=k,algorithm=HMAC_SHA512"):
        r = await tclient.post(
            "/twilio/voice",
            data=params,
            headers={"X-Twilio-Signature": sha256, "X-Twilio-Webhooks-Signature-Settings": header},
        )
        assert r.status_code == 403
    # Without the settings header the auth token still signs (HMAC-SHA1).
    assert (await post_twilio(tclient, "/twilio/voice", params)).status_code == 200


@pytest.mark.parametrize("host", ["testserver:x", "testserver:99999999", "[::1"])
async def test_a_host_header_that_does_not_parse_is_refused_not_a_500(
    tclient: httpx.AsyncClient, host: str
) -> None:
    # Anyone can post to the webhook with any Host (and any signature): the URL built
    # from it does not parse, so no variant of it can match a signature: 403, not a 500.
    params = call_params()
    r = await tclient.post(
        "/twilio/voice",
        data=params,
        headers={"host": host, "X-Twilio-Signature": sign(BASE + "/twilio/voice", params)},
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["status"] == 403
