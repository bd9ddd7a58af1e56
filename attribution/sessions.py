"""Sessions and their click paths.

A session row holds the visit's *last touch* in its columns (channel, source, campaign,
keyword, click ids ...) and in ``last_touch`` (JSON, with the click ids of platforms that
have no column), and its *first touch* in ``first_touch`` (JSON, written once). A
returning visitor (the snippet sends back its token) who arrives through a new click keeps
the first touch and gets a new last touch; moving between the site's own pages adds page
views only. The page views in order are the session's click path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from attribution import rollups
from attribution.devices import Device
from attribution.geo import Geo
from attribution.origins import origin_allowed
from attribution.sources import Source, landing_page
from attribution.touch import LAST_TOUCH_COLUMNS
from pool.store import Store, Tx

# Columns that carry the last touch; written on creation and on every new touch. Click ids
# of platforms without a column are in ``last_touch`` / ``first_touch`` (``attribution.platforms``).
_TOUCH_COLUMNS = LAST_TOUCH_COLUMNS


@dataclass(frozen=True)
class PageView:
    """One page of a visit."""

    url: str
    title: str = ""
    referrer: str = ""


# Columns of a new session beyond the touch's: the INSERT is written once, not per visit.
_NEW_COLUMNS = (
    *_TOUCH_COLUMNS,
    "landing_url",
    "landing_page",
    "referrer",
    "last_touch",
    "site_id",
    "started_ms",
    "last_seen_ms",
    "ip_hash",
    "user_agent",
    "device",
    "browser",
    "os",
    "country",
    "region",
    "city",
    "ga_client_id",
    "ga_sessions",
    "first_touch",
)
_INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_NEW_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in _NEW_COLUMNS)}) RETURNING id"
)
# PostgreSQL: the page view goes in the same statement (a round trip is the costliest part
# of a statement there; SQLite has no data-modifying WITH, and no round trips to save).
_PAGE_VIEW_COLUMNS = "page_views (session_id, ts_ms, url, title, referrer)"
_PAGE_VIEW_VALUES = ":pv_ts, :pv_url, :pv_title, :pv_referrer"
_INSERT_SESSION_AND_VIEW = (
    f"WITH s AS ({_INSERT_SESSION}) INSERT INTO {_PAGE_VIEW_COLUMNS}"
    f" VALUES ((SELECT id FROM s), {_PAGE_VIEW_VALUES}) RETURNING session_id"
)
_RETOUCH = ", ".join(
    [f"{c} = :{c}" for c in (*_TOUCH_COLUMNS, "landing_url", "landing_page", "referrer")]
    + ["last_touch = :last_touch", "touches = touches + 1"]
)


def _view_values(page: PageView, now_ms: int) -> dict[str, Any]:
    """The page view's parameters of ``_PAGE_VIEW_VALUES``, bounded like the columns."""
    return {
        "pv_ts": now_ms,
        "pv_url": page.url[:2048],
        "pv_title": page.title[:512],
        "pv_referrer": page.referrer[:2048],
    }


def _touch_values(source: Source, now_ms: int) -> dict[str, Any]:
    values: dict[str, Any] = {c: getattr(source, c) for c in _TOUCH_COLUMNS}
    values["landing_url"] = source.landing_url
    # Reports group by it: a URL with a click id is unique to its session.
    values["landing_page"] = landing_page(source.landing_url)
    values["referrer"] = source.referrer
    values["last_touch"] = orjson.dumps(source.as_touch(now_ms)).decode()
    return values


async def record_visit(
    tx: Tx,
    *,
    site_id: int,
    session_id: int | None,
    source: Source,
    new_touch: bool,
    page: PageView,
    now_ms: int,
    device: Device,
    user_agent: str,
    geo: Geo,
    ip_hash: str,
    ga_client_id: str = "",
    dialect: str = "sqlite",
    ga_sessions: str = "",
) -> int:
    """Create or continue a session and append the page view; return the session id.

    ``session_id`` is a session of ``site_id`` the visitor already has (from its token),
    or None to start one. ``new_touch`` replaces the last touch of a continued session.
    A continued session whose last page view is this very URL (the snippet asking again
    about a page it reported, for numbers that appeared on it later, or a reload) only
    gets its ``last_seen_ms`` moved: no second page view and no new touch (the page's
    touch was decided when it was first reported).
    Runs inside the caller's unit of work (``dialect`` is its store's).
    """
    if session_id is not None and await _last_url(tx, session_id) == page.url:
        await tx.execute(
            "UPDATE sessions SET last_seen_ms = :t WHERE id = :id AND last_seen_ms < :t",
            {"id": session_id, "t": now_ms},
        )
        return session_id
    view = _view_values(page, now_ms)
    if session_id is None:
        values = _touch_values(source, now_ms)
        values.update(
            {
                "site_id": site_id,
                "started_ms": now_ms,
                "last_seen_ms": now_ms,
                "ip_hash": ip_hash,
                "user_agent": user_agent[:512],
                "device": device.device,
                "browser": device.browser,
                "os": device.os,
                "country": geo.country,
                "region": geo.region,
                "city": geo.city,
                "ga_client_id": ga_client_id,
                "ga_sessions": ga_sessions,
                "first_touch": values["last_touch"],
            }
        )
        if dialect == "postgresql":
            values.update(view)
            return int(await tx.fetchval(_INSERT_SESSION_AND_VIEW, values))
        session_id = await tx.fetchval(_INSERT_SESSION, values)
    else:
        values = {"id": session_id, "t": now_ms}
        sets = ["last_seen_ms = :t"]
        if new_touch:
            values.update(_touch_values(source, now_ms))
            sets.append(_RETOUCH)
        if ga_client_id:
            values["ga"] = ga_client_id
            sets.append("ga_client_id = :ga")
        if ga_sessions:
            # gtag starts a new GA session after 30 idle minutes: the latest one is kept.
            values["gs"] = ga_sessions
            sets.append("ga_sessions = :gs")
        update = f"UPDATE sessions SET {', '.join(sets)} WHERE id = :id"
        if new_touch:
            # The session's report values change: its day's roll-up is read raw until redone.
            await rollups.mark_session(tx, session_id)
        if dialect == "postgresql":
            values.update(view)
            await tx.execute(
                f"WITH u AS ({update}) INSERT INTO {_PAGE_VIEW_COLUMNS}"
                f" VALUES (:id, {_PAGE_VIEW_VALUES})",
                values,
            )
            return session_id
        await tx.execute(update, values)
    assert session_id is not None
    view["pv_session"] = session_id
    await tx.execute(
        f"INSERT INTO {_PAGE_VIEW_COLUMNS} VALUES (:pv_session, {_PAGE_VIEW_VALUES})", view
    )
    return int(session_id)


async def add_page_view(
    tx: Tx, *, session_id: int, page: PageView, now_ms: int, origin: str = ""
) -> bool:
    """Append a page view to a session the visitor continues without a new visit (a later
    page of the visit, or a single-page app's route change, reported by the heartbeat).

    Recorded only when the page, and the ``Origin`` header when sent, are on the session's
    site's domains (as for a visit); True when it was. The session's ``last_seen_ms`` moves
    on; its touches do not change (moving between the site's own pages is no new source).
    The same URL as the session's last page view is not added again.
    """
    row = await tx.fetchone(
        "SELECT st.domains FROM sessions s JOIN sites st ON st.id = s.site_id WHERE s.id = :s",
        {"s": session_id},
    )
    if row is None:
        return False
    try:
        domains = orjson.loads(row["domains"] or "[]")
    except orjson.JSONDecodeError:
        domains = []
    if not isinstance(domains, list) or not origin_allowed(
        [str(d) for d in domains], origin, page.url
    ):
        return False
    await tx.execute(
        "UPDATE sessions SET last_seen_ms = :t WHERE id = :s AND last_seen_ms < :t",
        {"s": session_id, "t": now_ms},
    )
    if await _last_url(tx, session_id) != page.url:
        await tx.execute(
            f"INSERT INTO {_PAGE_VIEW_COLUMNS} VALUES (:pv_session, {_PAGE_VIEW_VALUES})",
            {**_view_values(page, now_ms), "pv_session": session_id},
        )
    return True


async def _last_url(tx: Tx, session_id: int) -> str | None:
    """The URL of the session's latest page view (None: none yet). The same URL again is
    not a new page view: a page reporting new numbers on it, or a reload."""
    url = await tx.fetchval(
        "SELECT url FROM page_views WHERE session_id = :s ORDER BY ts_ms DESC, id DESC LIMIT 1",
        {"s": session_id},
    )
    return None if url is None else str(url)


async def known_session(db: Store | Tx, session_id: object, site_id: int) -> int | None:
    """``session_id`` when it names a session of ``site_id`` (token values are untrusted)."""
    if not isinstance(session_id, int) or isinstance(session_id, bool) or session_id <= 0:
        return None
    row = await db.fetchone(
        "SELECT id FROM sessions WHERE id = :id AND site_id = :s", {"id": session_id, "s": site_id}
    )
    return None if row is None else int(row["id"])


async def click_path(db: Store, session_id: int) -> list[dict[str, Any]]:
    """The session's page views in order: ``ts_ms``, ``url``, ``title``, ``referrer``."""
    return await db.fetchall(
        "SELECT ts_ms, url, title, referrer FROM page_views WHERE session_id = :s"
        " ORDER BY ts_ms, id",
        {"s": session_id},
    )


async def first_touch(db: Store, session_id: int) -> dict[str, Any]:
    """The session's first touch as stored (empty when unknown)."""
    raw = await db.fetchval("SELECT first_touch FROM sessions WHERE id = :s", {"s": session_id})
    if not raw:
        return {}
    value = orjson.loads(raw)
    return value if isinstance(value, dict) else {}
