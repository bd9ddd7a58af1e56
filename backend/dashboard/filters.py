"""The filter bar shared by reports and the call log: advertiser, site, date range, the
lowest match confidence counted, and a report row's drill-down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request

from attribution.exports import CONFIDENCES, DRILL_DIMENSIONS, DRILL_VALUE_MAX, NO_SESSION_DRILL
from attribution.reports import local_day_range
from backend.dashboard.fmt import zone
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer
from backend.dashboard.web import int_param, visible_advertisers, visible_sites
from pool.scope import Scope
from pool.store import Row, Store

MAX_DAYS = 400
DEFAULT_DAYS = 30
# Days a filter may name: a day's range (and the default range before it) must stay within
# what datetime and epoch milliseconds hold; 10000-01-01 does not exist.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9999, 12, 30)


@dataclass(frozen=True)
class Filters:
    """What the viewer asked to see, already checked against what they may see."""

    advertiser_id: int | None
    site_id: int | None
    first: date
    last: date
    start_ms: int
    end_ms: int
    tz: str
    sites: list[Row]
    advertisers: list[Row]
    # The viewer's scope narrowed to the advertiser and site asked (no default: never all
    # by omission).
    scope: Scope
    confidence: str | None = None  # calls matched with this confidence or better only
    # A report row's drill-down (dimension, value): kept by date changes and downloads.
    drill: tuple[str, str] | None = None
    # Today in the timezone the range is read in (the quick ranges count from it).
    today: date | None = None
    # A breakdown row's parent keys, after ``drill`` (``by2``/``value2``, ``by3``/``value3``).
    drill_more: tuple[tuple[str, str], ...] = ()

    @property
    def drills(self) -> tuple[tuple[str, str], ...]:
        """Every (dimension, value) the calls are narrowed to, first the report's own."""
        return () if self.drill is None else (self.drill, *self.drill_more)

    @property
    def confidences(self) -> tuple[str, ...] | None:
        """The confidences counted, best first (None: every call)."""
        if self.confidence is None:
            return None
        return CONFIDENCES[: CONFIDENCES.index(self.confidence) + 1]

    def query(self, *, drill: bool = True, **extra: Any) -> str:
        """The query string that reproduces these filters (plus ``extra``; without the
        drill-down when ``drill`` is false)."""
        params: dict[str, Any] = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.site_id is not None:
            params["site"] = self.site_id
        if self.advertiser_id is not None:
            params["advertiser"] = self.advertiser_id
        if self.confidence is not None:
            params["confidence"] = self.confidence
        if drill and self.drill is not None:
            params["by"], params["value"] = self.drill
            for i, (by, value) in enumerate(self.drill_more, start=2):
                params[f"by{i}"], params[f"value{i}"] = by, value
        params.update({k: v for k, v in extra.items() if v is not None})
        return urlencode(params)

    def quick_ranges(self) -> list[tuple[str, date, date]]:
        """The quick ranges (message id, first day, last day) counted from today."""
        if self.today is None:
            return []
        return [(msgid, *quick_range(name, self.today)) for name, msgid in QUICK_RANGES.items()]

    def range_query(self, first: date, last: date, **extra: Any) -> str:
        """:meth:`query` for another range (the drill-down and ``extra`` kept)."""
        extra.update({"from": first.isoformat(), "to": last.isoformat()})
        return self.query(**extra)


# Quick ranges beside the date form, with their message ids.
QUICK_RANGES = {
    "today": N_("range.today"),
    "yesterday": N_("range.yesterday"),
    "last_7_days": N_("range.last_7_days"),
    "last_30_days": N_("range.last_30_days"),
    "this_month": N_("range.this_month"),
    "last_month": N_("range.last_month"),
}


def quick_range(name: str, today: date) -> tuple[date, date]:
    """First and last day of a quick range (:data:`QUICK_RANGES`) ending ``today``."""
    if name == "today":
        return today, today
    if name == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if name == "last_7_days":
        return today - timedelta(days=6), today
    if name == "last_30_days":
        return today - timedelta(days=29), today
    month = today.replace(day=1)
    if name == "this_month":
        return month, today
    if name == "last_month":
        last = month - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown range {name!r}")


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value[:10])
    except ValueError as exc:
        raise HTTPException(400, f"{name} must be a date like 2025-01-31.") from exc
    if not FIRST_DAY <= day <= LAST_DAY:
        raise HTTPException(
            400, f"{name} must be a date from {FIRST_DAY} to {LAST_DAY}, like 2025-01-31."
        )
    return day


async def read_filters(request: Request, db: Store, viewer: Viewer) -> Filters:
    """Advertiser, site and date range from the query string, limited to the viewer's scope."""
    q = request.query_params
    advertisers = await visible_advertisers(db, viewer)
    all_sites = await visible_sites(db, viewer)
    advertiser_id = viewer.advertiser_id
    wanted_adv = int_param(q.get("advertiser"), "advertiser")
    if wanted_adv is not None:
        if not any(a["id"] == wanted_adv for a in advertisers):
            raise HTTPException(404, "Not found.")
        advertiser_id = wanted_adv
    sites = [s for s in all_sites if advertiser_id is None or s["advertiser_id"] == advertiser_id]
    site_id = int_param(q.get("site"), "site")
    site = None
    if site_id is not None:
        site = next((s for s in sites if s["id"] == site_id), None)
        if site is None:
            raise HTTPException(404, "Not found.")
    tz = site["timezone"] if site else (sites[0]["timezone"] if sites else "Asia/Tokyo")
    tz = zone(tz).key
    today = datetime.now(zone(tz)).date()
    last = _day(q.get("to"), "to") or today
    first = _day(q.get("from"), "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    if (last - first).days >= MAX_DAYS:
        raise HTTPException(400, f"A report covers at most {MAX_DAYS} days.")
    start_ms, end_ms = local_day_range(first, last, tz)
    confidence = q.get("confidence") or None
    if confidence is not None and confidence not in CONFIDENCES:
        raise HTTPException(400, "Unknown confidence.")
    drill = None
    drills: list[tuple[str, str]] = []
    # (reports use `by`, `by2`, `by3` alone: their dimensions)
    for suffix in ("", "2", "3"):
        by, value = q.get("by" + suffix), q.get("value" + suffix)
        if by is None or value is None:
            break
        # A report's row of calls without a web session has a drill-down of its own.
        no_session = not suffix and (by, value) == NO_SESSION_DRILL
        # (PostgreSQL text cannot hold NUL, and no stored value has one.)
        if not no_session and (
            by not in DRILL_DIMENSIONS or len(value) > DRILL_VALUE_MAX or "\x00" in value
        ):
            raise HTTPException(400, "Unknown drill-down.")
        drills.append((by, value))
    if drills:
        drill = drills[0]
    # Both were checked above against what the viewer may see (404 otherwise).
    scope = viewer.scope.narrow(advertiser_id=advertiser_id, site_id=site_id)
    return Filters(
        advertiser_id,
        site_id,
        first,
        last,
        start_ms,
        end_ms,
        tz,
        sites,
        advertisers,
        scope,
        confidence,
        drill,
        today,
        tuple(drills[1:]),
    )
