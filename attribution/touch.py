"""The touch that led to a call, frozen on the call when the call is matched.

A session's columns hold its latest touch (``attribution.sessions``): a visitor who calls
from a Google ad and comes back seconds later through a Yahoo! ad moves the session's
source, campaign, keyword, click ids and landing page to the Yahoo! click. A call keeps
its own copy (``calls.touch_*``), taken in the unit of work that stores the match, so every
report, export and conversion upload credits the click that led to the call, whatever
the session does afterwards. A call matched again (to another session) is frozen again.

A call matched late (a call detail record imported afterwards, call events replayed after
an outage) may find the session already moved on to a touch made after the call started.
The session keeps its first touch and its latest one: when the latest came after the call
and the first is the one just before it (two touches), the first is frozen; otherwise the
latest is, with its time in ``calls.touch_ms`` so the conversion files can tell that it
came after the call and leave it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from attribution import platforms
from attribution.platforms import CLICK_ID_COLUMNS
from attribution.sources import landing_page, url_click_ids
from pool.store import Tx

# Where a touch came from: channel, source and the ad's campaign down to the keyword.
CAMPAIGN_COLUMNS = ("channel", "source", "medium", "campaign", "ad_group", "keyword", "match_type")
# The session columns that carry its latest touch (``attribution.sessions`` writes them on
# every new touch).
LAST_TOUCH_COLUMNS = (*CAMPAIGN_COLUMNS, "content", *CLICK_ID_COLUMNS)
# The session columns copied onto the call, as ``calls.touch_<name>``: the touch and where
# it landed.
TOUCH_FIELDS = (*LAST_TOUCH_COLUMNS, "landing_url", "landing_page", "referrer")

# Every call with a session given that session's current touch, in one statement (seeds,
# benchmarks; ``WHERE`` may be narrowed by appending ``AND ...``). touch_ms stays unknown.
COPY_FROM_SESSIONS = (
    f"UPDATE calls SET ({', '.join('touch_' + f for f in TOUCH_FIELDS)}) ="
    f" (SELECT {', '.join(TOUCH_FIELDS)} FROM sessions WHERE sessions.id = calls.session_id)"
    " WHERE session_id IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM sessions WHERE sessions.id = calls.session_id)"
)

_SET = ", ".join(f"touch_{f} = :{f}" for f in TOUCH_FIELDS)
_READ = (
    f"SELECT {', '.join(TOUCH_FIELDS)}, last_touch, first_touch, started_ms, touches"
    " FROM sessions WHERE id = :s"
)


def select_touch(alias: str = "c") -> str:
    """``c.touch_source AS source, ...``: the call's frozen touch under the session's names."""
    return ", ".join(f"{alias}.touch_{f} AS {f}" for f in TOUCH_FIELDS)


def touch_column(name: str, alias: str = "c") -> str:
    """The call column holding touch field ``name`` (a fixed name, never user input)."""
    if name not in TOUCH_FIELDS:
        raise ValueError(f"not a touch field: {name!r}")
    return f"{alias}.touch_{name}"


def click_ids(touch: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Every registered click id a stored touch carries, by parameter, in registry order
    (absent ones left out).

    ``touch`` is a row with the touch's fields under ``prefix`` + name (a session row, a
    call's frozen touch selected with :func:`select_touch`, an export row): a click id with a
    column is read from it, one without from the touch's ``landing_url``, the URL the click
    landed on (frozen on the call with the rest of the touch).
    """
    out: dict[str, str] = {}
    unstored = platforms.unstored_click_ids()
    from_url = url_click_ids(str(touch.get(prefix + "landing_url") or ""), unstored)
    for click in platforms.click_ids():
        value = str(touch.get(prefix + click.column) or "") if click.column else ""
        value = value or from_url.get(click.param, "")
        if value:
            out[click.param] = value
    return out


def _json(raw: Any) -> dict[str, Any]:
    try:
        data = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _at(touch: dict[str, Any]) -> int | None:
    at = touch.get("at_ms")
    return at if isinstance(at, int) and not isinstance(at, bool) and at > 0 else None


def _touch_ms(row: dict[str, Any]) -> int | None:
    """When the session's current touch happened (its ``last_touch.at_ms``)."""
    at = _at(_json(row["last_touch"]))
    if at is not None:
        return at
    return int(row["started_ms"]) if int(row["touches"] or 1) == 1 else None


def _earlier_touch(row: dict[str, Any], started_ms: int) -> dict[str, Any] | None:
    """The touch before the session's latest one, when it is known and not after the
    call: the first touch of a session with exactly two (``first_touch`` holds it whole)."""
    if int(row["touches"] or 1) != 2:
        return None
    first = _json(row["first_touch"])
    at = _at(first)
    if at is None or at > started_ms:
        return None
    values: dict[str, Any] = {f: str(first.get(f) or "") for f in TOUCH_FIELDS}
    values["landing_page"] = landing_page(values["landing_url"])
    values["at"] = at
    return values


async def freeze_touch(tx: Tx, *, call_id: int, session_id: int | None) -> None:
    """Copy ``session_id``'s current touch onto call ``call_id`` (cleared without a session).

    Runs in the caller's unit of work, the one that stores the match, so the copy is the
    touch the session had when the call was matched; later touches never reach the call.
    When the session's touch came after the call started (a late match), the touch before
    it is taken where the session still knows it (see the module's docstring).
    """
    row = None if session_id is None else await tx.fetchone(_READ, {"s": session_id})
    values: dict[str, Any] = {f: "" for f in TOUCH_FIELDS}
    values["at"] = None
    if row is not None:
        values.update({f: str(row[f] or "") for f in TOUCH_FIELDS})
        values["at"] = _touch_ms(row)
        started = await tx.fetchval("SELECT started_ms FROM calls WHERE id = :id", {"id": call_id})
        if values["at"] is not None and started is not None and values["at"] > started:
            values.update(_earlier_touch(row, int(started)) or {})
    values["id"] = call_id
    await tx.execute(f"UPDATE calls SET {_SET}, touch_ms = :at WHERE id = :id", values)
