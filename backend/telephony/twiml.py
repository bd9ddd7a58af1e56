"""TwiML answers: the one module that writes what Twilio plays.

An answer is a sequence of verbs (:mod:`backend.telephony.verbs`); :func:`render` turns it
into a TwiML document with the official ``twilio`` library's ``VoiceResponse`` (its element
and attribute names are Twilio's own, so a typo in a verb's name cannot reach a caller).

Escaping is not enough for XML: characters outside XML 1.0's ``Char`` production (C0
controls other than tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF)
cannot be written at all, escaped or not. ``xml.etree`` (which ``VoiceResponse`` writes
with) writes them anyway and the document is ill-formed, so every text and attribute goes
through :func:`xml_safe` when the document is written, whatever put it there.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET

from twilio.twiml import TwiML
from twilio.twiml.voice_response import VoiceResponse

from backend.telephony import verbs as v
from backend.telephony.verbs import Answer, Forward

CONTENT_TYPE = "text/xml; charset=utf-8"
# The forwarding step's inputs, under the name the answer used before it was a list of verbs.
DialPlan = Forward

# Everything XML 1.0 does not allow in a document (the complement of its Char production).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (they are dropped)."""
    return _NOT_XML.sub("", text)


def document(root: ET.Element) -> bytes:
    """The TwiML document of ``root`` (every text and attribute made XML-safe)."""
    return _document(root)


def _document(root: ET.Element) -> bytes:
    for element in root.iter():
        if element.text:
            element.text = xml_safe(element.text)
        if element.tail:
            element.tail = xml_safe(element.tail)
        for name, value in element.attrib.items():
            element.attrib[name] = xml_safe(value)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode").encode()
    )


def _prompt(node: TwiML, verb: v.Say | v.Play | v.Pause) -> None:
    """Add a spoken or played verb to ``node`` (the answer, or a ``Gather``)."""
    if isinstance(verb, v.Say):
        if verb.text:  # an empty <Say> is noise in the document and silence on the line
            node.say(verb.text, voice=verb.voice or None, language=verb.language or None)
    elif isinstance(verb, v.Play):
        node.play(verb.url, loop=None if verb.loop == 1 else verb.loop)
    else:
        node.pause(length=None if verb.length_s == 1 else verb.length_s)


def _dial(response: VoiceResponse, verb: v.Dial) -> None:
    attrs: dict[str, Any] = {"timeout": verb.timeout_s}
    if verb.answer_on_bridge:
        attrs["answer_on_bridge"] = True
    if verb.caller_id:
        attrs["caller_id"] = verb.caller_id
    if verb.action_url:
        attrs["action"] = verb.action_url
        attrs["method"] = "POST"
    if verb.record:
        attrs["record"] = "record-from-answer-dual"
        if verb.recording_callback_url:
            attrs["recording_status_callback"] = verb.recording_callback_url
            attrs["recording_status_callback_method"] = "POST"
            attrs["recording_status_callback_event"] = "completed"
    dial = response.dial(**attrs)
    for number in verb.numbers:
        extra: dict[str, str] = {}
        if number.whisper_url:
            extra.update(url=number.whisper_url, method="POST")
        if number.answered_url:
            extra.update(
                status_callback=number.answered_url,
                status_callback_event="answered",
                status_callback_method="POST",
            )
        dial.number(number.number, **extra)


def _gather(response: VoiceResponse, verb: v.Gather) -> None:
    gather = response.gather(
        action=verb.action_url,
        method="POST",
        input="dtmf",
        num_digits=verb.num_digits or None,
        timeout=verb.timeout_s,
        finish_on_key=verb.finish_on_key,
        action_on_empty_result=True if verb.action_on_empty else None,
    )
    for prompt in verb.prompt:
        _prompt(gather, prompt)


def _record(response: VoiceResponse, verb: v.Record) -> None:
    response.record(
        action=verb.action_url or None,
        method="POST" if verb.action_url else None,
        max_length=verb.max_length_s,
        play_beep=verb.play_beep,
        finish_on_key=verb.finish_on_key,
        timeout=verb.timeout_s,
        recording_status_callback=verb.recording_callback_url or None,
        recording_status_callback_method="POST" if verb.recording_callback_url else None,
    )


def render(answer: Answer) -> bytes:
    """The TwiML document of an answer (a sequence of verbs, played in order)."""
    response = VoiceResponse()
    for verb in answer:
        if isinstance(verb, v.Say | v.Play | v.Pause):
            _prompt(response, verb)
        elif isinstance(verb, v.Dial):
            _dial(response, verb)
        elif isinstance(verb, v.Gather):
            _gather(response, verb)
        elif isinstance(verb, v.Record):
            _record(response, verb)
        elif isinstance(verb, v.Enqueue):
            response.enqueue(
                verb.name,
                action=verb.action_url,
                method="POST",
                wait_url=verb.wait_url,
                wait_url_method="POST",
            )
        elif isinstance(verb, v.Leave):
            response.leave()
        elif isinstance(verb, v.Redirect):
            response.redirect(verb.url, method="POST")
        elif isinstance(verb, v.Hangup):
            response.hangup()
        elif isinstance(verb, v.Reject):
            response.reject(reason=verb.reason)
        else:  # a new verb must be taught here before an answer can use it
            raise TypeError(f"no TwiML for {verb!r}")
    return _document(response.xml())


def dial(plan: Forward) -> bytes:
    """``<Dial>`` to the forwarding target, with recording notice and whisper when asked."""
    return render(v.forward(plan))


def say(text: str, *, language: str, voice: str) -> bytes:
    """Words played to whoever is on the line (the whisper to the person answering)."""
    return render((v.Say(text, language, voice),))


def reject(reason: str = "rejected") -> bytes:
    """Refuse the call without answering it (blocked callers, unknown numbers)."""
    return render((v.Reject(reason),))


def hangup() -> bytes:
    """End the call (the answer to ``<Dial action>``)."""
    return render((v.Hangup(),))


def empty() -> bytes:
    """Nothing to do (status and recording callbacks)."""
    return render(())
