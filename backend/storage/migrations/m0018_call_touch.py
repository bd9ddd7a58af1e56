"""The touch that led to a call, frozen on the call (``calls.touch_*``, ``calls.touch_ms``).

A session's columns hold its *latest* touch: a visitor who calls and comes back seconds
later through another ad moves the session's source and click ids. Reports, exports and
conversion files read the call's own copy, taken when the call is matched
(``attribution.touch.freeze_touch``), so a later touch never moves a call.

Calls recorded before this migration get their session's current values, the best there
is. ``touch_ms`` is when the frozen touch happened: the session's start for a session with
one touch, unknown (NULL) otherwise, and NULL for calls without a session. The calls table
of a portal can be large, so the fill is a ``BACKFILL``: batches of ids, each its own unit
of work with its progress, logged (see ``migrations/__init__.py``); calls recorded after
this migration was applied are frozen by the new code and never touched by it.
"""

_FIELDS = (
    "channel",
    "source",
    "medium",
    "campaign",
    "ad_group",
    "keyword",
    "match_type",
    "content",
    "gclid",
    "gbraid",
    "wbraid",
    "yclid",
    "fbclid",
    "msclkid",
    "landing_url",
    "landing_page",
    "referrer",
)
_COLUMNS = ", ".join(f"touch_{f}" for f in _FIELDS)
_VALUES = ", ".join(f"s.{f}" for f in _FIELDS)

STATEMENTS = [
    *(f"ALTER TABLE calls ADD COLUMN touch_{f} TEXT NOT NULL DEFAULT ''" for f in _FIELDS),
    "ALTER TABLE calls ADD COLUMN touch_ms BIGINT",
]
BACKFILL_TABLE = "calls"
BACKFILL = (
    f"UPDATE calls SET ({_COLUMNS}, touch_ms) = (SELECT {_VALUES},"
    " CASE WHEN s.touches = 1 THEN s.started_ms ELSE NULL END"
    " FROM sessions s WHERE s.id = calls.session_id)"
    " WHERE id > :lo AND id <= :hi AND session_id IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM sessions s2 WHERE s2.id = calls.session_id)"
)
