"""TwiML answers, built with ``xml.etree`` so every value is escaped.

No dependency on the twilio library at run time: TwiML is a small XML vocabulary.
Escaping is not enough for XML: characters outside XML 1.0's ``Char`` production (C0
controls other than tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF)
cannot be written at all, escaped or not. ``xml.etree`` writes them anyway and the
document is ill-formed, so every text and attribute goes through :func:`xml_safe` when the
document is written, whatever put it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

CONTENT_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class DialPlan:
    """How one call is put through to the business."""

    forward_to: str
    timeout_s: int = 30
    caller_id: str = ""  # empty: Twilio shows the caller's own number
    action_url: str = ""
    record: bool = False
    recording_callback_url: str = ""
    recording_notice: str = ""
    whisper_url: str = ""
    language: str = "ja-JP"
    voice: str = "Polly.Mizuki"


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


def _say(parent: ET.Element, text: str, *, language: str, voice: str) -> None:
    attrs = {"language": language}
    if voice:
        attrs["voice"] = voice
    ET.SubElement(parent, "Say", attrs).text = text


def dial(plan: DialPlan) -> bytes:
    """``<Dial>`` to the forwarding target, with recording notice and whisper when asked."""
    root = ET.Element("Response")
    if plan.record and plan.recording_notice:
        _say(root, plan.recording_notice, language=plan.language, voice=plan.voice)
    attrs = {"answerOnBridge": "true", "timeout": str(plan.timeout_s)}
    if plan.caller_id:
        attrs["callerId"] = plan.caller_id
    if plan.action_url:
        attrs["action"] = plan.action_url
        attrs["method"] = "POST"
    if plan.record:
        attrs["record"] = "record-from-answer-dual"
        if plan.recording_callback_url:
            attrs["recordingStatusCallback"] = plan.recording_callback_url
            attrs["recordingStatusCallbackMethod"] = "POST"
            attrs["recordingStatusCallbackEvent"] = "completed"
    element = ET.SubElement(root, "Dial", attrs)
    number_attrs = {}
    if plan.whisper_url:
        number_attrs = {"url": plan.whisper_url, "method": "POST"}
    ET.SubElement(element, "Number", number_attrs).text = plan.forward_to
    return _document(root)


def say(text: str, *, language: str, voice: str) -> bytes:
    """Words played to whoever is on the line (the whisper to the person answering)."""
    root = ET.Element("Response")
    if text:
        _say(root, text, language=language, voice=voice)
    return _document(root)


def reject(reason: str = "rejected") -> bytes:
    """Refuse the call without answering it (blocked callers, unknown numbers)."""
    root = ET.Element("Response")
    ET.SubElement(root, "Reject", {"reason": reason})
    return _document(root)


def hangup() -> bytes:
    """End the call (the answer to ``<Dial action>``)."""
    root = ET.Element("Response")
    ET.SubElement(root, "Hangup")
    return _document(root)


def empty() -> bytes:
    """Nothing to do (status and recording callbacks)."""
    return _document(ET.Element("Response"))
