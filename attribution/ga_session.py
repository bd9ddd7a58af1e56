"""The GA4 session id of a visit, read from gtag's ``_ga_<container>`` cookies.

gtag keeps one cookie per GA4 property, ``_ga_<measurement id without "G-">``, whose value
starts with the session id (the session's start, in Unix seconds): ``GS1.1.1700000000.…``
or, in the newer form, ``GS2.1.s1700000000$o5…``. The snippet sends the cookies' heads it
found joined by commas (``gs``: ``_ga_TEST1234=GS1.1.1700000000,…``; the short
``TEST1234.1700000000`` form is taken too); they are kept bounded and validated here as
``CONTAINER.SESSION`` pairs, and the GA4 push picks the pair of the site's own
measurement id, so the event lands
in the visitor's GA session (Google's Measurement Protocol documentation: ``session_id``
is an event parameter, and must match the gtag session for the event to join it).
"""

from __future__ import annotations

import re

MAX_PAIRS = 3
_PAIR = re.compile(r"(?:_ga_)?([A-Z0-9]{4,20})(?:=GS[0-9]\.[0-9]{1,3}\.s?|\.)([0-9]{1,20})")
MAX_PARTS = 12  # a page with many GA properties: the first ones are looked at


def ga_session_ids(raw: str) -> str:
    """The valid ``CONTAINER.SESSION`` pairs of a raw ``gs`` field (at most 3), or ''.

    Each part is a cookie head as the snippet sends it (``_ga_TEST1234=GS1.1.1700000000``,
    ``_ga_TEST1234=GS2.1.s1700000000``) or an already short pair (``TEST1234.1700000000``).
    """
    kept: list[str] = []
    for part in raw.split(",")[:MAX_PARTS]:
        m = _PAIR.fullmatch(part.strip())
        if m and len(kept) < MAX_PAIRS and not any(k.startswith(m[1] + ".") for k in kept):
            kept.append(f"{m[1]}.{int(m[2])}")
    return ",".join(kept)


def ga_session_for(stored: str, measurement_id: str) -> str:
    """The session id of this measurement id in the stored pairs ('' when none)."""
    container = measurement_id.removeprefix("G-")
    for pair in stored.split(","):
        name, _, session = pair.partition(".")
        if name == container and session.isdigit():
            return session
    return ""
