"""The one place telephony calls attribution: matching a call, qualifying it.

``attribution.matching.match_call`` finds the session that held the dialled number;
``attribution.qualification.qualify_call`` applies the site's rules to a completed call.
Both are imported, not looked up by name: a renamed function fails at import, never by
recording every call as unmatched.
"""

from __future__ import annotations

from typing import Any

from attribution.matching import match_call
from attribution.qualification import qualify_call
from attribution.touch import select_touch
from backend.settings import Settings
from backend.telephony.calls import Match, Matcher
from pool.store import Store


def matcher(settings: Settings) -> Matcher:
    """The matcher with the server's settings: the late-call window, and the heartbeat
    interval that tells whether a page was still open when the phone rang."""
    options = {
        "late_window_ms": settings.late_call_window_seconds * 1000,
        "live_window_ms": 2 * settings.heartbeat_seconds * 1000 + 5_000,
        "code_life_ms": settings.visit_code_days * 86_400_000,
    }

    async def configured(
        db: Store, tracking_number: str, caller: str, started_ms: int, digits: str = ""
    ) -> Match:
        return await match(db, tracking_number, caller, started_ms, digits, **options)

    return configured


async def match(
    db: Store,
    tracking_number: str,
    caller: str,
    started_ms: int,
    digits: str = "",
    **options: int,
) -> Match:
    """Attribute a call; see ``attribution.matching`` for the methods and confidences.

    ``digits``: what the caller dialled after the number (a visit code). ``options``:
    ``late_window_ms``, ``live_window_ms`` and ``code_life_ms`` for ``match_call`` (its
    defaults when left out; :func:`matcher` passes the settings).
    """
    m = await match_call(
        db,
        tracking_number=tracking_number,
        caller=caller,
        started_ms=started_ms,
        digits=digits,
        **options,
    )
    return Match(
        method=m.method,
        number_id=m.number_id,
        site_id=m.site_id,
        advertiser_id=m.advertiser_id,
        session_id=m.session_id,
        lease_id=m.lease_id,
        candidates=len(m.candidates),
        confidence=m.confidence,
        reason=m.reason,
        candidate_ids=tuple(m.candidates),
        code_digits=m.code_digits,
        code_kind=m.code_kind,
        code_source=m.code_source,
        code_campaign=m.code_campaign,
    )


async def qualify(db: Store, call_id: int) -> bool:
    """Apply the site's qualification rules to a completed call."""
    return bool(await qualify_call(db, call_id=call_id))


async def call_source(db: Store, call_id: int) -> dict[str, Any] | None:
    """The touch frozen on a call when it was matched, for the whisper (None without one)."""
    # Every touch field: the whisper reads the click ids of every registered platform
    # (``attribution.touch.click_ids``), from their columns or the landing URL.
    return await db.fetchone(
        f"SELECT {select_touch('c')} FROM calls c WHERE c.id = :id AND c.session_id IS NOT NULL",
        {"id": call_id},
    )
