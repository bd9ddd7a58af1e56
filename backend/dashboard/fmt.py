"""Formatting for display: phone numbers, masked callers, local times, durations, rates."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import lru_cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """A timezone by name; unknown names fall back to Asia/Tokyo (the sites' default)."""
    try:
        return ZoneInfo(name or "Asia/Tokyo")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Tokyo")


def phone(e164: str) -> str:
    """An E.164 number the way people of its country write it (national format)."""
    if not e164:
        return ""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask(e164: str) -> str:
    """A caller number with its middle digits hidden: ``090-****-5678``."""
    if not e164:
        return ""
    text = phone(e164)
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if len(digits) <= 4:
        return "*" * len(text)
    # Keep the prefix (mobile/landline) and the last four digits, like a card number: enough
    # to tell callers apart and recognise a regular, not enough to call back.
    tail = 4 if len(digits) >= 10 else 2
    keep = set(digits[:3] + digits[-tail:])
    return "".join(ch if (not ch.isdigit() or i in keep) else "*" for i, ch in enumerate(text))


def caller(e164: str, can_see: bool) -> str:
    """The caller as this viewer may see it."""
    if not e164:
        return "—"
    return phone(e164) if can_see else mask(e164)


def when(ms: int | None, tz: str = "Asia/Tokyo", with_seconds: bool = False) -> str:
    """Epoch ms as local ``YYYY-MM-DD HH:MM`` in ``tz``."""
    if ms is None:
        return ""
    stamp = datetime.fromtimestamp(ms / 1000, zone(tz))
    return stamp.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def clock(ms: int | None, tz: str = "Asia/Tokyo") -> str:
    """Epoch ms as local ``HH:MM:SS``."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, zone(tz)).strftime("%H:%M:%S")


def duration(seconds: int | None) -> str:
    """Seconds as ``m:ss`` (or ``h:mm:ss``)."""
    s = int(seconds or 0)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def offset(ms: int, since_ms: int) -> str:
    """How long before (``-``) or after a reference time, as ``-12:05``."""
    delta = (ms - since_ms) // 1000
    sign = "-" if delta < 0 else "+"
    return sign + duration(abs(delta))


def percent(rate: float) -> str:
    """A ratio as a percentage with one decimal."""
    return f"{rate * 100:.1f}%"


def number(n: int | float) -> str:
    """A count with thousands separators."""
    return f"{n:,}"


def link(url: str | None) -> str:
    """A URL safe to put in ``href``: http(s) only (a stored ``javascript:`` is dropped)."""
    if url and url.lower().startswith(("https://", "http://")) and len(url) <= 2048:
        return url
    return ""


def url_text(url: str | None) -> str:
    """A URL as people read it: percent-escapes decoded (``/%E6%96%99%E9%87%91`` reads
    ``/料金``, a Japanese keyword in ``?q=`` reads as typed). For display only, never for
    ``href``. A URL whose escapes are not UTF-8, or decode to control or invisible format
    characters (a line break, a bidi override), is shown as stored."""
    if not url:
        return ""
    try:
        text = unquote(url, errors="strict")
    except UnicodeDecodeError:
        return url
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in text):
        return url
    return text


def money(amount: int, currency: str = "JPY") -> str:
    """A whole amount with its currency: ¥12,345 (−¥2,000 for a credit); other currencies
    by their code (USD 1,200)."""
    sign = "-" if amount < 0 else ""
    mark = "¥" if currency == "JPY" else f"{currency} "
    return f"{sign}{mark}{abs(amount):,}"
