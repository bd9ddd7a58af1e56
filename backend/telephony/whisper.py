"""入電ガイダンス: the sentence played to the person who answers, naming the call's source.

For example 「Google広告 キーワード 歯医者 渋谷 からのお電話です」. Built from the session the
call was matched to, or from a static source number's label.

The keyword, and the source of a visit from no platform this module names, are written by
whoever made the visit (``utm_term``, ``utm_source``): anyone can put control characters,
bidirectional overrides or a paragraph there. So the whisper names a known platform by
its own fixed label (the classified source, never the visitor's spelling of it), and any
text taken from the session or a number's label goes through :func:`spoken` first:
controls become spaces, format, surrogate and private-use characters and non-characters
are dropped, whitespace is collapsed and the length bounded. The whole sentence is at most
:data:`MAX_WHISPER` characters.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from attribution import platforms
from attribution.touch import click_ids

# Longest label (a source, a static number's label) and keyword spoken, in characters; a
# longer one is cut and ends with '…'. The whole whisper stays under MAX_WHISPER.
MAX_LABEL = 40
MAX_KEYWORD = 40
MAX_WHISPER = 120
_DROPPED = {"Cf", "Cs", "Co"}  # format (bidi overrides, zero-width), surrogate, private use

# A medium (or a word of one) that makes a visit paid. Platform labels are the registry's
# (``attribution.platforms``: ``Platform.spoken``).
_PAID_HINTS = ("cpc", "ppc", "paid", "paidsearch", "paid_search", "display", "cpm", "ads")
_PHRASES = {
    "ja": {
        "keyword": "{label} キーワード {keyword} からのお電話です",
        "label": "{label} からのお電話です",
        "direct": "ウェブサイトからのお電話です",
        "unknown": "トラッキング番号へのお電話です",
    },
    "en": {
        "keyword": "Call from {label}, keyword {keyword}",
        "label": "Call from {label}",
        "direct": "Call from the website",
        "unknown": "Call to a tracking number",
    },
}


def _speakable(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cc":
        return " "  # tabs, newlines, escapes: word breaks at most
    if category in _DROPPED:
        return ""
    code = ord(char)
    if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
        return ""  # non-characters (U+FFFE, U+FFFF in every plane, U+FDD0..U+FDEF)
    return char


def spoken(text: str, limit: int) -> str:
    """``text`` fit to be said: no control or invisible characters, one space between
    words, at most ``limit`` characters (cut ones end with '…')."""
    cleaned = " ".join("".join(_speakable(c) for c in text[: limit * 4]).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def _lang(language: str) -> str:
    return "ja" if language.lower().startswith("ja") else "en"


def source_label(session: dict[str, Any], language: str) -> str:
    """A spoken name for where a session came from ('' for a direct visit)."""
    lang = _lang(language)
    source = str(session.get("source") or "").lower()
    medium = str(session.get("medium") or "").lower()
    channel = str(session.get("channel") or "").lower()
    paid = medium in _PAID_HINTS or "paid" in channel
    clicks = click_ids(session)
    # The platform of a click id the visit carries names it, whatever the tags say.
    ordered = platforms.by_precedence()
    for platform in ordered:
        if any(c.param in clicks for c in platform.click_ids):
            rule = platform.classification
            source, paid = rule.source, paid or rule.paid_click
            break
    for platform in ordered:
        for named in platform.spoken:
            if named.source in source:
                return named.label(lang, paid)
    raw = str(session.get("source") or "")
    return "" if raw.startswith("(") or channel == "direct" else raw


def announcement(
    session: dict[str, Any] | None, static_label: str = "", language: str = "ja-JP"
) -> str:
    """The whisper for a call matched to ``session`` (or to a static source number)."""
    phrases = _PHRASES[_lang(language)]
    static_label = spoken(static_label, MAX_LABEL)
    if session is None:
        if static_label:
            return phrases["label"].format(label=static_label)[:MAX_WHISPER]
        return phrases["unknown"]
    label = spoken(source_label(session, language), MAX_LABEL) or static_label
    keyword = spoken(str(session.get("keyword") or ""), MAX_KEYWORD)
    if label and keyword:
        return phrases["keyword"].format(label=label, keyword=keyword)[:MAX_WHISPER]
    if label:
        return phrases["label"].format(label=label)[:MAX_WHISPER]
    return phrases["direct"]
