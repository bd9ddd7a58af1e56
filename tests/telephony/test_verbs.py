"""Call answers as verbs: one renderer for Twilio (TwiML) and its JSON mirror for a PBX.

The documents of the cases that existed before the answer was a list of verbs are pinned
here as they were written then (compared canonically: attribute order is not meaning), and
every verb's TwiML is checked against Twilio's vocabulary as the official library declares
it (element names, their attributes, what may nest in what).
"""

from __future__ import annotations

import inspect
import re
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from twilio.twiml import voice_response as vr

from backend.telephony import config, pbx, twiml
from backend.telephony import verbs as v
from backend.telephony.calls import CallEvent
from tests.telephony.conftest import BASE, TARGET, TRACKING, call_params, post_twilio
from tests.telephony.test_pbx import send, start

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
FULL = twiml.DialPlan(
    forward_to="+81312345678",
    timeout_s=20,
    caller_id="+815011112222",
    action_url="https://h/twilio/dial",
    record=True,
    recording_callback_url="https://h/twilio/recording",
    recording_notice="録音します",
    whisper_url="https://h/twilio/whisper?call=CA1&number=%2B81",
    language="en-US",
    voice="alice",
)
# (answer, the document the earlier hand-built writer produced for it)
BEFORE = [
    (
        twiml.dial(twiml.DialPlan(forward_to="+81312345678", action_url="https://h/twilio/dial")),
        '<Response><Dial answerOnBridge="true" timeout="30" action="https://h/twilio/dial"'
        ' method="POST"><Number>+81312345678</Number></Dial></Response>',
    ),
    (
        twiml.dial(FULL),
        '<Response><Say language="en-US" voice="alice">録音します</Say><Dial'
        ' answerOnBridge="true" timeout="20" callerId="+815011112222"'
        ' action="https://h/twilio/dial" method="POST" record="record-from-answer-dual"'
        ' recordingStatusCallback="https://h/twilio/recording"'
        ' recordingStatusCallbackMethod="POST" recordingStatusCallbackEvent="completed">'
        '<Number url="https://h/twilio/whisper?call=CA1&amp;number=%2B81" method="POST">'
        "+81312345678</Number></Dial></Response>",
    ),
    (
        twiml.dial(twiml.DialPlan(forward_to="+81312345678", record=True, voice="")),
        '<Response><Dial answerOnBridge="true" timeout="30" record="record-from-answer-dual">'
        "<Number>+81312345678</Number></Dial></Response>",
    ),
    (
        twiml.say("hi", language="ja-JP", voice=""),
        '<Response><Say language="ja-JP">hi</Say></Response>',
    ),
    (twiml.say("", language="ja-JP", voice="x"), "<Response />"),
    (twiml.reject(), '<Response><Reject reason="rejected" /></Response>'),
    (twiml.hangup(), "<Response><Hangup /></Response>"),
    (twiml.empty(), "<Response />"),
]


@pytest.mark.parametrize(("body", "before"), BEFORE)
def test_the_answers_are_the_documents_they_were(body: bytes, before: str) -> None:
    assert body.startswith(HEAD.encode())
    assert ET.canonicalize(body.decode()[len(HEAD) :]) == ET.canonicalize(before)


def _allowed_attributes(parent: type, tag: str) -> set[str] | None:
    """The attributes the twilio library's ``parent.<tag>()`` takes (None: no such child)."""
    method = getattr(parent, re.sub(r"(?<!^)(?=[A-Z])", "_", tag).lower(), None)
    if method is None:
        return None
    names = set(inspect.signature(method).parameters) - {"self", "kwargs"}
    return {twiml_name(n) for n in names}


def twiml_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def check_vocabulary(body: bytes) -> None:
    """Every element is one Twilio accepts where it stands, with attributes it knows."""
    root = ET.fromstring(body)
    assert root.tag == "Response"

    def walk(element: ET.Element, cls: type) -> None:
        for child in element:
            allowed = _allowed_attributes(cls, child.tag)
            assert allowed is not None, f"<{child.tag}> may not stand in <{element.tag}>"
            # The element's text is its first parameter (number, message, url), not an attribute.
            unknown = set(child.attrib) - allowed
            assert not unknown, f"<{child.tag}> has attributes Twilio does not know: {unknown}"
            walk(child, getattr(vr, child.tag))

    walk(root, vr.VoiceResponse)


EVERY_VERB: v.Answer = (
    v.Say("ようこそ", "ja-JP", "Polly.Mizuki"),
    v.Play("https://h/hold.mp3", loop=0),
    v.Pause(2),
    v.Gather(
        "https://h/twilio/code",
        prompt=(v.Say("番号を押してください"), v.Pause(1), v.Play("https://h/beep.mp3")),
        num_digits=4,
        timeout_s=3,
        action_on_empty=True,
    ),
    v.Dial(
        (
            v.Number("+81312345678", "https://h/twilio/whisper"),
            v.Number("+81312345679", answered_url="https://h/twilio/flow?p=leg"),
        ),
        timeout_s=15,
        caller_id="+815011112222",
        action_url="https://h/twilio/dial",
        record=True,
        recording_callback_url="https://h/twilio/recording",
    ),
    v.Record("https://h/twilio/voicemail", max_length_s=60, recording_callback_url="https://h/r"),
    v.Enqueue("callpath-1-q", wait_url="https://h/twilio/flow?p=wait", action_url="https://h/q"),
    v.Leave(),
    v.Redirect("https://h/twilio/next"),
    v.Hangup(),
    v.Reject("busy"),
)


def test_every_verb_renders_in_twilios_vocabulary() -> None:
    body = twiml.render(EVERY_VERB)
    check_vocabulary(body)
    root = ET.fromstring(body)
    assert [c.tag for c in root] == [
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Dial",
        "Record",
        "Enqueue",
        "Leave",
        "Redirect",
        "Hangup",
        "Reject",
    ]
    gather = root.find("Gather")
    assert gather is not None
    assert [c.tag for c in gather] == ["Say", "Pause", "Play"]
    assert gather.attrib == {
        "action": "https://h/twilio/code",
        "method": "POST",
        "input": "dtmf",
        "numDigits": "4",
        "timeout": "3",
        "finishOnKey": "#",
        "actionOnEmptyResult": "true",
    }
    numbers = root.findall("Dial/Number")
    assert [n.text for n in numbers] == ["+81312345678", "+81312345679"]
    assert numbers[0].get("url") == "https://h/twilio/whisper" and "url" not in numbers[1].attrib
    assert numbers[1].get("statusCallbackEvent") == "answered"
    enqueue = root.find("Enqueue")
    assert enqueue is not None and enqueue.text == "callpath-1-q"
    assert enqueue.get("waitUrl") == "https://h/twilio/flow?p=wait"
    assert root.find("Play").get("loop") == "0"  # type: ignore[union-attr]
    record = root.find("Record")
    assert record is not None and record.get("maxLength") == "60"
    assert (
        record.get("playBeep") == "true" and record.get("recordingStatusCallback") == "https://h/r"
    )


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1f", "\ud800", "\ufffe", "\uffff"])
def test_no_verb_writes_a_character_xml_forbids(bad: str) -> None:
    answer = (
        v.Gather(f"https://h/{bad}", prompt=(v.Say(f"a{bad}b", voice=f"x{bad}"),)),
        v.Play(f"https://h/{bad}.mp3"),
        v.Record(f"https://h/{bad}"),
        v.Redirect(f"https://h/{bad}"),
        v.Dial((v.Number(f"+8131{bad}", f"https://h/{bad}"),), caller_id=f"+81{bad}"),
    )
    root = ET.fromstring(twiml.render(answer))
    for element in root.iter():
        for value in (element.text or "", *element.attrib.values()):
            assert bad not in value


def test_a_verb_the_renderer_does_not_know_is_refused() -> None:
    class Conference:  # not (yet) a verb of ours
        pass

    with pytest.raises(TypeError, match="no TwiML"):
        twiml.render((Conference(),))  # type: ignore[arg-type]


def _event(caller: str = "+819012345678") -> CallEvent:
    return CallEvent(
        provider="pbx", call_id="c1", kind="start", ts_ms=1, tracking_number=TRACKING, caller=caller
    )


def test_the_pbx_answer_mirrors_the_verbs() -> None:
    answer = v.forward(v.Forward(TARGET, timeout_s=25, record=True, recording_notice="録音"))
    assert pbx.as_json(answer, _event()) == {
        "action": "forward",
        "call_id": "c1",
        "forward_to": TARGET,
        "timeout": 25,
        "record": True,
        "caller_id": "+819012345678",  # no caller id on the dial: the caller's own
    }
    tracking = v.forward(v.Forward(TARGET, caller_id=TRACKING))
    assert pbx.as_json(tracking, _event())["caller_id"] == TRACKING
    assert pbx.as_json((v.Reject("blocked"),), _event()) == {
        "action": "reject",
        "reason": "blocked",
        "call_id": "c1",
    }
    with pytest.raises(TypeError):
        pbx.as_json((v.Hangup(),), _event())


async def test_twilio_and_the_pbx_get_the_same_call_options(
    telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    """One advertiser's options reach both answers, through the same verbs."""
    await config.set_options(
        db, advertiser_id=1, record=True, dial_timeout_s=22, caller_id="tracking", whisper=True
    )
    await telephony.table.load()
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAV1"))
    check_vocabulary(r.content)
    dial = ET.fromstring(r.content).find("Dial")
    assert dial is not None
    assert (dial.get("timeout"), dial.get("callerId"), dial.get("record")) == (
        "22",
        TRACKING,
        "record-from-answer-dual",
    )
    assert dial.find("Number").get("url", "").startswith(BASE + "/twilio/whisper?")  # type: ignore[union-attr]
    j = await send(tclient, start(call_id="pbx-v1"))
    assert j.status_code == 200, j.text
    assert j.json() == {
        "action": "forward",
        "call_id": "pbx-v1",
        "forward_to": TARGET,
        "timeout": 22,
        "record": True,
        "caller_id": TRACKING,
    }
