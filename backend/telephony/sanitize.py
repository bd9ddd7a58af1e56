"""Carrier fields made storable: the one place every call event's text is cleaned.

Whatever a carrier, a PBX or a CSV file sends is kept as sent where it can be stored, but
no text reaches the database with a NUL (PostgreSQL's text cannot hold one: the insert
fails, every time) or another control character, and no field is longer than its bound.
A signed webhook is still the carrier's word about the call, so it is cleaned rather than
refused: the caller must be forwarded and the call recorded.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from backend.telephony.calls import CallEvent

# C0 and C1 control characters and DEL; tabs and line breaks become spaces first.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[\t\r\n]")

# Bounds of the event's text fields (characters).
BOUNDS = {
    "provider": 32,
    "call_id": 128,
    "kind": 20,
    "tracking_number": 40,
    "caller": 40,
    "forwarded_to": 40,
    "status": 20,
    "recording_url": 1000,
    "recording_sid": 64,
}
MAX_KEY = 64
MAX_VALUE = 1000
MAX_FIELDS = 300


def text(value: str, max_len: int) -> str:
    """``value`` without control characters, trimmed, at most ``max_len`` characters."""
    if not value.isprintable():
        value = _CONTROL.sub("", _SPACES.sub(" ", value))
    return value.strip()[:max_len]


def params(values: dict[str, str]) -> dict[str, str]:
    """A carrier's form or JSON fields with every key and string value cleaned and bounded
    (other JSON scalars kept as they are)."""
    out: dict[str, Any] = {}
    for key, value in list(values.items())[:MAX_FIELDS]:
        name = text(str(key), MAX_KEY)
        if not name:
            continue
        out[name] = text(value, MAX_VALUE) if isinstance(value, str) else value
    return out


def event(e: CallEvent) -> CallEvent:
    """The event with every text field cleaned and bounded (the same event when clean)."""
    changes: dict[str, Any] = {}
    for name, bound in BOUNDS.items():
        value = getattr(e, name)
        cleaned = text(value, bound)
        if cleaned != value:
            changes[name] = cleaned
    payload = {
        k: v
        for k, v in params(e.payload).items()
        if v is None or isinstance(v, str | int | float | bool)
    }
    if payload != e.payload:
        changes["payload"] = payload
    return dataclasses.replace(e, **changes) if changes else e
