"""Opening hours: whether a schedule step is open, closed or on a holiday at a moment.

Japanese public holidays come from the ``holidays`` package (its calendar follows the
Cabinet Office's announcements, substitute and citizens' holidays included), never from a
hand-written list. Times are read in the step's time zone, else the site's.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from backend.telephony.flowdoc import WEEKDAYS, Step

OPEN, CLOSED, HOLIDAY = "open", "closed", "holiday"


@functools.lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo | None:
    """The time zone ``name`` (None when unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.lru_cache(maxsize=8)
def _japan(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_holiday(day: date, calendar: str = "JP") -> bool:
    """Whether ``day`` is a public holiday in ``calendar`` ('JP'; '' has none)."""
    return calendar == "JP" and day in _japan(day.year)


def state(step: Step, at_ms: int, site_zone: str = "Asia/Tokyo") -> str:
    """``open``, ``closed`` or ``holiday`` for a schedule step at ``at_ms`` (UTC ms).

    A public holiday or one of the step's closed days is ``holiday`` whatever the hours
    say; otherwise open within one of the weekday's spans (breaks are the gaps).
    """
    tz = zone(step.time_zone or site_zone) or ZoneInfo("Asia/Tokyo")
    local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(tz)
    day = local.date()
    if day.isoformat() in step.closed_days or is_holiday(day, step.holidays):
        return HOLIDAY
    minute = local.hour * 60 + local.minute
    for start, end in step.hours.get(WEEKDAYS[local.weekday()], ()):
        if start <= minute < end:
            return OPEN
    return CLOSED


def branch(step: Step, at_ms: int, site_zone: str = "Asia/Tokyo") -> str:
    """The step id a schedule step leads to at ``at_ms`` ('' hangs up).

    ``holiday`` falls back to ``closed`` when the flow names no holiday branch.
    """
    now = state(step, at_ms, site_zone)
    if now == OPEN:
        return step.open
    if now == HOLIDAY and step.holiday:
        return step.holiday
    return step.closed
