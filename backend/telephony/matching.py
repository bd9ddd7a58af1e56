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
from backend.telephony.calls import Match
from pool.store import Store


async def match(db: Store, tracking_number: str, caller: str, started_ms: int) -> Match:
    """Attribute a call; see ``attribution.matching`` for the methods."""
    m = await match_call(db, tracking_number=tracking_number, caller=caller, started_ms=started_ms)
    return Match(
        method=m.method,
        number_id=m.number_id,
        site_id=m.site_id,
        advertiser_id=m.advertiser_id,
        session_id=m.session_id,
        lease_id=m.lease_id,
        candidates=len(m.candidates),
    )


async def qualify(db: Store, call_id: int) -> bool:
    """Apply the site's qualification rules to a completed call."""
    return bool(await qualify_call(db, call_id=call_id))


async def call_source(db: Store, call_id: int) -> dict[str, Any] | None:
    """The touch frozen on a call when it was matched, for the whisper (None without one)."""
    return await db.fetchone(
        "SELECT touch_channel AS channel, touch_source AS source, touch_medium AS medium,"
        " touch_campaign AS campaign, touch_keyword AS keyword, touch_gclid AS gclid,"
        " touch_gbraid AS gbraid, touch_wbraid AS wbraid, touch_yclid AS yclid,"
        " touch_fbclid AS fbclid, touch_msclkid AS msclkid"
        " FROM calls WHERE id = :id AND session_id IS NOT NULL",
        {"id": call_id},
    )
