"""Visit codes (任意番号, issue #21) through the signed Twilio webhooks and the stand-in:
the code in the tel: number, <Gather> before the call flow, digits / no digits / unknown
digits, a code that names its visit after the number went to someone else and days later,
and storage down."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from attribution import codes
from backend.settings import Settings
from pool import leases
from pool.store import Store, now_ms
from tests.support.twilio import TwilioStandIn, attributes, verbs
from tests.telephony.conftest import (
    AUTH_TOKEN,
    BASE,
    TARGET,
    call_params,
    call_row,
    holder_of,
    post_twilio,
    store_swapped,
)
from tests.telephony.test_fail_open import BrokenStore

ORIGIN = {"origin": "http://127.0.0.1"}
CALLER = "+819012345678"
OTHER = "+819087654321"
DAY_MS = 86_400_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No rest between holders: a number goes to the next visitor at once.
    return settings.replace(lease_cooldown_seconds=0, lease_grace_seconds=0)


async def _codes_on(db: Store, telephony: Any) -> None:
    async with db.write() as tx:
        await codes.set_site_codes(
            tx,
            site_id=await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'"),
            enabled=True,
        )


async def _visit(client: httpx.AsyncClient, page: str, token: str = "") -> dict[str, Any]:
    body = {"site": "demo", "url": f"http://127.0.0.1/examples/{page}"}
    if token:
        body["token"] = token
    r = await client.post("/v1/session", json=body, headers=ORIGIN)
    assert r.status_code == 200, r.text
    data = r.json()
    data["swap"] = {s["target"]: s for s in data["swaps"]}[TARGET]
    return data


async def _coded_visit(
    client: httpx.AsyncClient, db: Store, telephony: Any, page: str
) -> dict[str, Any]:
    """A visit of ``page`` once the demo site gives visit codes, with the routing table read
    again (as its refresh would), so calls to the visit's number wait for a code."""
    await _codes_on(db, telephony)
    visit = await _visit(client, page)
    await telephony.table.load()
    return visit


async def test_the_tel_number_carries_the_visits_code_and_the_text_does_not(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    before = await _visit(tclient, "?v=off")
    assert "," not in before["swap"]["number"] and "code" not in before["swap"]
    await _codes_on(db, telephony)
    first = await _visit(tclient, "?v=on")
    swap = first["swap"]
    code = swap["code"]
    assert len(code) == codes.MIN_DIGITS and code.isdigit()
    assert swap["number"] == f"{swap['e164']},{code}"
    # What the page shows comes from these, unchanged.
    assert "," not in swap["national"] and "," not in swap["international"]
    # The same visit within the window keeps its code.
    again = await _visit(tclient, "?v=again", token=first["token"])
    assert again["swap"]["code"] == code
    # After the window it gets a new one; the old one still names the visit.
    session = await holder_of(db, swap["e164"])
    await db.execute(
        "UPDATE visit_codes SET issued_ms = issued_ms - :d WHERE session_id = :s",
        {"d": 3 * 3600 * 1000, "s": session},
    )
    later = await _visit(tclient, "?v=later", token=first["token"])
    assert later["swap"]["code"] != code
    assert (
        await db.fetchval("SELECT COUNT(*) FROM visit_codes WHERE session_id = :s", {"s": session})
        == 2
    )


def test_code_length_grows_with_the_traffic() -> None:
    assert codes.digits_for(0) == 3
    assert codes.digits_for(49) == 3  # 50 codes of 1,000: 5 %
    assert codes.digits_for(50) == 4
    assert codes.digits_for(499) == 4
    assert codes.digits_for(500) == 5
    assert codes.tel_number("+815012345678", "4821") == "+815012345678,4821"


async def _reuse(client: httpx.AsyncClient, db: Store) -> tuple[dict[str, Any], int, int]:
    """Visitor A sees a number with A's code, lets it go; visitor B gets the same number."""
    a = await _visit(client, "?v=a")
    number = a["swap"]["e164"]
    session_a = await holder_of(db, number)
    lease_a = await db.fetchval(
        "SELECT id FROM leases WHERE session_id = :s AND ended_ms IS NULL", {"s": session_a}
    )
    assert await leases.release(db, lease_id=lease_a, now_ms=now_ms())
    for i in range(40):
        b = await _visit(client, f"?v=b{i}")
        if b["swap"]["e164"] == number:
            return a, session_a, await holder_of(db, number)
    raise AssertionError("the number never came back")


async def test_a_tapped_call_names_the_visit_after_the_number_went_to_another(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    await _codes_on(db, telephony)
    a, session_a, session_b = await _reuse(tclient, db)
    assert session_a != session_b
    await telephony.table.load()
    number, code = a["swap"]["e164"], a["swap"]["code"]
    assert telephony.table.listening(number) == len(code)
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE)

    call = await twilio.call(to=number, caller=CALLER, sid="CACODE1", post_dial=code, pause_s=1)
    assert verbs(call) == [["Gather", "Redirect"], ["Dial"]]
    gather = attributes(call, "Gather")
    assert gather["input"] == "dtmf" and gather["numDigits"] == str(len(code))
    assert gather["timeout"] == "2" and gather["action"] == BASE + "/twilio/code"
    assert call.dialled == TARGET and call.waited_s <= 2
    assert await telephony.recorder.drain(10)
    row = await call_row(db, "CACODE1")
    assert row["session_id"] == session_a
    assert (row["match_method"], row["match_confidence"], row["match_reason"]) == (
        "code",
        "exact",
        "code",
    )
    assert (row["code_digits"], row["code_kind"]) == (code, "visit")

    # Two days later, redialled from the phone's call history: still A's.
    await db.execute("UPDATE visit_codes SET issued_ms = issued_ms - :d", {"d": 2 * DAY_MS})
    await db.execute(
        "UPDATE leases SET started_ms = started_ms - :d WHERE session_id = :s",
        {"d": 2 * DAY_MS, "s": session_a},
    )
    redial = await twilio.call(to=number, caller=OTHER, sid="CACODE2", post_dial=code, pause_s=1)
    assert redial.dialled == TARGET
    assert await telephony.recorder.drain(10)
    row = await call_row(db, "CACODE2")
    assert (row["session_id"], row["match_method"]) == (session_a, "code")


async def test_a_caller_dialling_by_hand_waits_the_configured_wait_and_is_matched_as_usual(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    b = await _coded_visit(tclient, db, telephony, "?v=hand")
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE)
    call = await twilio.call(to=b["swap"]["e164"], caller=CALLER, sid="CAHAND")
    assert verbs(call) == [["Gather", "Redirect"], ["Dial"]]
    # Nothing heard: Twilio falls through after the Gather's timeout, the configured wait.
    assert call.waited_s == telephony.settings.visit_code_wait_seconds <= 2
    assert call.dialled == TARGET
    assert call.requests[1][0] == BASE + "/twilio/code" and "Digits" not in call.requests[1][1]
    assert await telephony.recorder.drain(10)
    row = await call_row(db, "CAHAND")
    assert row["session_id"] == await holder_of(db, b["swap"]["e164"])
    assert row["match_method"] == "lease" and row["code_digits"] == ""

    # A phone whose pause is longer than the wait: its digits come too late, the call
    # still goes through after the wait.
    late = await twilio.call(
        to=b["swap"]["e164"], caller=OTHER, sid="CALATE", post_dial=b["swap"]["code"], pause_s=3
    )
    assert late.dialled == TARGET and late.waited_s == 2 and late.digits_sent == ""


async def test_digits_that_name_no_code_are_kept_and_the_call_goes_on(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    b = await _coded_visit(tclient, db, telephony, "?v=unknown")
    wrong = "000" if b["swap"]["code"] != "000" else "001"
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE)
    call = await twilio.call(
        to=b["swap"]["e164"], caller=CALLER, sid="CAUNK", post_dial=wrong, pause_s=1
    )
    assert call.dialled == TARGET
    assert await telephony.recorder.drain(10)
    row = await call_row(db, "CAUNK")
    assert row["match_method"] == "lease"
    assert (row["code_digits"], row["code_kind"]) == (wrong, "")


async def test_numbers_of_sites_without_codes_answer_dial_at_once(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    b = await _visit(tclient, "?v=plain")
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE).call(
        to=b["swap"]["number"], caller=CALLER, sid="CAPLAIN", post_dial="123"
    )
    assert verbs(call) == [["Dial"]] and call.waited_s == 0


async def test_code_step_rejects_bad_signatures_and_blocked_callers_are_not_gathered(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    await _codes_on(db, telephony)
    b = await _visit(tclient, "?v=sig")
    number = b["swap"]["e164"]
    r = await tclient.post(
        "/twilio/code",
        data=call_params(to=number, Digits="123"),
        headers={"X-Twilio-Signature": "bad"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    advertiser = await db.fetchval("SELECT advertiser_id FROM sites WHERE site_key = 'demo'")
    await db.execute(
        "INSERT INTO blocked_callers (advertiser_id, pattern, kind, created_ms)"
        " VALUES (:a, :p, 'exact', 0)",
        {"a": advertiser, "p": OTHER},
    )
    await telephony.table.load()
    r = await post_twilio(
        tclient, "/twilio/voice", call_params(sid="CABLK", to=number, caller=OTHER)
    )
    assert ET.fromstring(r.content).find("Reject") is not None


@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_storage_down_the_code_step_still_forwards_and_the_digits_are_journaled(
    mode: str, app: Any, tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: Any
) -> None:
    a = await _coded_visit(tclient, db, telephony, "?v=down")
    telephony.recorder.write_timeout_s = 0.2
    with store_swapped(app, BrokenStore(db, mode)) as broken:
        number, code = a["swap"]["e164"], a["swap"]["code"]
        call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE).call(
            to=number, caller=CALLER, sid="CADOWN", post_dial=code, pause_s=1
        )
        assert verbs(call) == [["Gather", "Redirect"], ["Dial"]]
        assert call.dialled == TARGET
        assert not await telephony.recorder.drain(0.5)
        broken.repair()
        assert await telephony.recorder.drain(15)
    row = await call_row(db, "CADOWN")
    assert row["match_method"] == "code" and row["code_digits"] == code
    assert row["session_id"] == await holder_of(db, number)
