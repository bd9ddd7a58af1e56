"""The whisper speaks visitor text: control characters and XML specials never break TwiML.

A visitor writes the keyword (``utm_term``) and the source (``utm_source``) of its own
session. Control characters are not allowed anywhere in XML 1.0, so a keyword holding one
made the whisper's TwiML ill-formed (Twilio then plays an application error to the person
answering). The whisper is built from cleaned, bounded text, and the TwiML writer itself
drops any character XML cannot hold.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import httpx
import pytest

from backend.telephony import config, twiml
from backend.telephony.whisper import MAX_KEYWORD, MAX_LABEL, MAX_WHISPER, announcement, spoken
from tests.telephony.conftest import BASE, TARGET, call_params, post_twilio

pytestmark = pytest.mark.stores("sqlite")

# Every kind of character that must not reach the person answering, or the XML: C0 and C1
# controls, a bidirectional override and a zero-width joiner (format), a private-use
# character, the XML non-characters, plus XML's own special characters (which are fine:
# they are escaped, and spoken as written).
HOSTILE = "歯医者\x01\x02<b>&amp;\x1b[31m\x7f\x85\u202e\u200dX\ue000\ufffe\uffff\x08'\""


def _bad_chars(text: str) -> list[str]:
    return [
        c
        for c in text
        if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn"} or c in "\ufffe\uffff"
    ]


async def _visit(client: httpx.AsyncClient, keyword: str, source: str = "") -> str:
    """A visit from an ad with this keyword; returns the tracking number it was given.

    Without ``source`` the visit comes from a Google ad click (a gclid); with it, from a
    paid ``utm_source`` of the visitor's own writing.
    """
    tags = f"utm_source={quote(source)}" if source else "gclid=Cj0KCQ"
    url = f"http://127.0.0.1/examples/?{tags}&utm_medium=cpc&utm_term={quote(keyword)}"
    r = await client.post(
        "/v1/session",
        json={"site": "demo", "url": url, "referrer": "https://www.google.com/"},
        headers={"origin": "http://127.0.0.1"},
    )
    assert r.status_code == 200, r.text
    return {s["target"]: s["number"] for s in r.json()["swaps"]}[TARGET]


async def _whisper_of(client: httpx.AsyncClient, sid: str, number: str) -> bytes:
    r = await post_twilio(client, "/twilio/voice", call_params(sid=sid, to=number))
    assert r.status_code == 200
    url = ET.fromstring(r.content).find("Dial").find("Number").get("url")
    child = call_params(sid=sid + "c", to=TARGET, ParentCallSid=sid, Direction="outbound-dial")
    r = await post_twilio(client, url.removeprefix(BASE), child, url=url)
    assert r.status_code == 200
    return r.content


async def test_a_keyword_with_control_characters_gives_a_well_formed_bounded_whisper(
    telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    await config.set_options(db, advertiser_id=1, whisper=True)
    await telephony.table.load()
    number = await _visit(tclient, HOSTILE + " インプラント" * 30)
    body = await _whisper_of(tclient, "CAX1", number)
    say = ET.fromstring(body).find("Say")  # ill-formed XML raises here
    text = say.text or ""
    assert not _bad_chars(text), [hex(ord(c)) for c in _bad_chars(text)]
    # Controls become spaces, format and private-use characters go; XML's specials stay.
    assert text.startswith("Google広告 キーワード 歯医者 <b>&amp; [31m X '\"")
    assert text.endswith("からのお電話です")
    assert len(text) <= MAX_WHISPER


async def test_a_visitor_written_source_is_cleaned_and_bounded_too(
    telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    await config.set_options(db, advertiser_id=1, whisper=True)
    await telephony.table.load()
    # An unknown source is spoken as the visitor wrote it (lower-cased by the classifier):
    # that text goes through the same cleaning as the keyword.
    number = await _visit(tclient, "kw", source="news\x01letter\u202e" + "x" * 200)
    text = ET.fromstring(await _whisper_of(tclient, "CAX2", number)).findtext("Say") or ""
    assert not _bad_chars(text)
    assert text.startswith("news letterxxxx")
    assert text.endswith("… キーワード kw からのお電話です")
    assert len(text) <= MAX_WHISPER


def test_spoken_text_keeps_words_and_drops_what_cannot_be_said() -> None:
    assert spoken("  歯医者\x00\t渋谷\n\r ", 40) == "歯医者 渋谷"
    assert spoken("a\u200bb\u202ec\ud800d\U000f0000e", 40) == "abcde"
    assert spoken("x" * 100, MAX_KEYWORD) == "x" * (MAX_KEYWORD - 1) + "…"
    assert spoken("\x01\x02", 40) == ""


def test_announcements_are_bounded_whatever_the_session_holds() -> None:
    session = {"source": "\x01" * 5 + "y" * 500, "keyword": "k" * 500}
    for language in ("ja-JP", "en-US"):
        text = announcement(session, "z" * 500, language)
        assert len(text) <= MAX_WHISPER
        assert ("y" * (MAX_LABEL - 1) + "…") in text
        assert ("k" * (MAX_KEYWORD - 1) + "…") in text
    # A label or keyword that is nothing but control characters is no label at all.
    assert announcement({"source": "\x01\x02", "keyword": "\x03"}) == "ウェブサイトからのお電話です"
    assert announcement(None, "\x07") == "トラッキング番号へのお電話です"


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1f", "\ud800", "\ufffe", "\uffff"])
def test_the_twiml_writer_never_writes_a_character_xml_forbids(bad: str) -> None:
    for body in (
        twiml.say(f"a{bad}b", language="ja-JP", voice=f"Polly{bad}"),
        twiml.dial(
            twiml.DialPlan(
                forward_to=f"+81312345678{bad}",
                record=True,
                recording_notice=f"notice{bad}",
                action_url=f"http://x/{bad}",
            )
        ),
        twiml.reject(f"busy{bad}"),
    ):
        root = ET.fromstring(body)
        for element in root.iter():
            for value in (element.text or "", *element.attrib.values()):
                assert bad not in value
    assert ET.fromstring(twiml.say("a\x01b", language="ja-JP", voice="")).findtext("Say") == "ab"
