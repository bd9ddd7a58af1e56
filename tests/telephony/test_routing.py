"""Routing: whisper (入電ガイダンス), blocked callers (着信拒否), recording and options."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from backend.telephony import config
from backend.telephony.whisper import announcement
from tests.telephony.conftest import BASE, TARGET, TRACKING, call_params, post_twilio

pytestmark = pytest.mark.stores("sqlite")


async def _lease_with_ad_click(client: httpx.AsyncClient) -> str:
    """A visit from a Google ad with a keyword; returns the tracking number it was given."""
    r = await client.post(
        "/v1/session",
        json={
            "site": "demo",
            "url": "http://127.0.0.1/examples/?gclid=Cj0KCQ&utm_source=google&utm_medium=cpc"
            "&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85",
            "referrer": "https://www.google.com/",
        },
        headers={"origin": "http://127.0.0.1"},
    )
    assert r.status_code == 200, r.text
    swaps = {s["target"]: s["number"] for s in r.json()["swaps"]}
    return swaps[TARGET]


async def test_whisper_announces_the_ad_and_keyword(
    telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    await config.set_options(db, advertiser_id=1, whisper=True)
    await telephony.table.load()
    number = await _lease_with_ad_click(tclient)
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAW1", to=number))
    dial = ET.fromstring(r.content).find("Dial")
    url = dial.find("Number").get("url")
    assert url.startswith(BASE + "/twilio/whisper?call=CAW1&number=")
    # Twilio fetches the whisper on the business's leg when it answers.
    child = call_params(sid="CAchild", to=TARGET, ParentCallSid="CAW1", Direction="outbound-dial")
    r = await post_twilio(tclient, url.removeprefix(BASE), child, url=url)
    assert r.status_code == 200
    say = ET.fromstring(r.content).find("Say")
    assert say.text == "Google広告 キーワード 歯医者 からのお電話です"
    assert say.get("language") == "ja-JP"
    assert await telephony.recorder.drain(5)
    row = await db.fetchone("SELECT match_method, session_id FROM calls")
    assert row["match_method"] == "lease" and row["session_id"] is not None


async def test_whisper_falls_back_to_the_number_when_the_match_is_unknown(
    telephony: Any, tclient: httpx.AsyncClient
) -> None:
    await config.set_options(telephony.recorder._db(), advertiser_id=1, whisper=True)
    await telephony.table.load()
    url = "/twilio/whisper?call=CAunknown&number=%2B815017000001"
    r = await post_twilio(tclient, url, call_params(sid="CAchild2", to=TARGET))
    assert ET.fromstring(r.content).findtext("Say") == "トラッキング番号へのお電話です"


def test_announcements() -> None:
    google = {"source": "google", "medium": "cpc", "keyword": "インプラント"}
    assert announcement(google) == "Google広告 キーワード インプラント からのお電話です"
    assert announcement({"yclid": "x", "keyword": ""}) == "Yahoo!広告 からのお電話です"
    assert announcement({"source": "google", "medium": "organic"}) == "Google検索 からのお電話です"
    assert (
        announcement({"source": "(direct)", "channel": "direct"}) == "ウェブサイトからのお電話です"
    )
    assert announcement(None, "チラシ") == "チラシ からのお電話です"
    assert announcement(google, language="en-US") == "Call from Google Ads, keyword インプラント"


async def test_blocked_callers_are_rejected_by_number_and_prefix(
    telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    await config.block(db, advertiser_id=1, pattern="090-1111-2222")
    await config.block(db, advertiser_id=1, pattern="+8180", kind="prefix")
    await telephony.table.load()
    for sid, caller, rejected in (
        ("CAB1", "+819011112222", True),
        ("CAB2", "+818012345678", True),
        ("CAB3", "+819011112223", False),
    ):
        r = await post_twilio(tclient, "/twilio/voice", call_params(sid=sid, caller=caller))
        root = ET.fromstring(r.content)
        assert (root.find("Reject") is not None) is rejected, (caller, r.text)
        assert (root.find("Dial") is not None) is not rejected
    assert await telephony.recorder.drain(5)
    rows = await db.fetchall("SELECT provider_call_id, status FROM calls ORDER BY id")
    assert [r["status"] for r in rows] == ["blocked", "blocked", "ringing"]
    # Another advertiser's block list does not apply.
    assert not telephony.table.blocked(2, "+819011112222")


async def test_bad_block_patterns_are_refused(db: Any, demo: Any) -> None:
    with pytest.raises(ValueError):
        await config.block(db, advertiser_id=1, pattern="not a number")
    with pytest.raises(ValueError):
        await config.block(db, advertiser_id=1, pattern="8190", kind="prefix")
    with pytest.raises(LookupError):
        await config.block(db, advertiser_id=99, pattern="+819011112222")


async def test_recording_with_a_spoken_notice(
    telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    await config.set_options(
        db, advertiser_id=1, record=True, dial_timeout_s=20, caller_id="tracking"
    )
    await telephony.table.load()
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAR1"))
    root = ET.fromstring(r.content)
    assert [child.tag for child in root] == ["Say", "Dial"]
    assert "録音" in root.findtext("Say")
    dial = root.find("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == BASE + "/twilio/recording"
    assert dial.get("timeout") == "20"
    assert dial.get("callerId") == TRACKING
    assert dial.findtext("Number") == TARGET


async def test_twiml_escapes_whatever_it_is_given() -> None:
    from backend.telephony import twiml

    body = twiml.say('<Play>x</Play> & "quotes"', language="ja-JP", voice='a"b')
    root = ET.fromstring(body)
    assert root.findtext("Say") == '<Play>x</Play> & "quotes"'
    assert root.find("Say").get("voice") == 'a"b'
    assert root.find("Play") is None


async def test_the_table_refreshes_and_keeps_the_last_good_one(
    app: Any, telephony: Any, db: Any
) -> None:
    import asyncio

    from backend.telephony.routing import RoutingTable
    from tests.telephony.test_fail_open import BrokenStore

    current = {"db": db}
    table = RoutingTable(lambda: current["db"], telephony.table.defaults)
    await table.load()
    assert table.get(TRACKING).forward_to == TARGET
    refresh = asyncio.create_task(table.refresh_forever(0.05))
    try:
        await db.execute(
            "UPDATE tracking_numbers SET forward_to = '+81355550000' WHERE number = :n",
            {"n": TRACKING},
        )
        for _ in range(100):
            if table.get(TRACKING).forward_to == "+81355550000":
                break
            await asyncio.sleep(0.05)
        assert table.get(TRACKING).forward_to == "+81355550000"
        current["db"] = BrokenStore(db, "raise")
        await asyncio.sleep(0.3)  # several failed refreshes
        assert table.get(TRACKING).forward_to == "+81355550000"
        assert len(table) == 11
    finally:
        refresh.cancel()
