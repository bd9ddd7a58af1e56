"""Money, months and the invoice registration number: the pure rules of billing.

Amounts are integers of the install's currency (yen: no minor unit); nothing here takes or
returns a float. Consumption tax is computed once per statement on its taxable total and
rounded down (切り捨て), as the qualified invoice rules (適格請求書等保存方式) allow: one
rounding per invoice and tax rate, never per line.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from attribution.errors import FieldError

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
AMOUNT_MAX = 10**10  # a price, fee or cap in yen
_REGISTRATION = re.compile(r"^T([0-9]{13})$")


class BillingError(FieldError):
    """A value billing refuses; ``field`` names the input."""


def consumption_tax(taxable_yen: int, percent: int) -> int:
    """The tax on a statement's taxable total, rounded down (toward zero for a credit).

    >>> consumption_tax(12_345, 10)
    1234
    """
    magnitude = abs(taxable_yen) * percent // 100
    return magnitude if taxable_yen >= 0 else -magnitude


def billed_minutes(talk_s: int) -> int:
    """Answered minutes as billed: every started minute counts (61 s is 2 minutes)."""
    return -(-max(talk_s, 0) // 60)


def check_registration_number(raw: str) -> str:
    """A qualified invoice issuer's registration number (登録番号): ``T`` and 13 digits whose
    first is the check digit of the 法人番号 (corporate number) rule. BillingError otherwise.

    The check digit is ``9 - (Σ Pn × Qn mod 9)`` over the other 12 digits, Pn the n-th
    digit from the right and Qn 1 for odd n, 2 for even n (国税庁, 法人番号の指定).
    """
    value = raw.strip().upper().replace("-", "")
    match = _REGISTRATION.fullmatch(value)
    if match is None:
        raise BillingError("registration_number", "a registration number is T and 13 digits")
    digits = match.group(1)
    body = digits[1:]
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(body), start=1))
    if int(digits[0]) != 9 - total % 9:
        raise BillingError("registration_number", "the registration number's check digit is wrong")
    return value


def check_month(raw: str) -> str:
    """A month as ``YYYY-MM``; BillingError otherwise."""
    if not isinstance(raw, str) or MONTH_RE.fullmatch(raw) is None:
        raise BillingError("month", "a month is written YYYY-MM")
    return raw


def check_day(raw: str, field: str = "effective_from") -> str:
    """A day as ``YYYY-MM-DD`` (a real day); BillingError otherwise."""
    if not isinstance(raw, str) or DAY_RE.fullmatch(raw) is None:
        raise BillingError(field, "a day is written YYYY-MM-DD")
    try:
        date.fromisoformat(raw)
    except ValueError as exc:
        raise BillingError(field, "no such day") from exc
    return raw


def check_amount(raw: object, field: str, *, optional: bool = False) -> int | None:
    """A whole amount from 0 to :data:`AMOUNT_MAX` (text with commas accepted); None for an
    empty optional one. BillingError otherwise."""
    if optional and (raw is None or raw == ""):
        return None
    if isinstance(raw, str):
        text = raw.replace(",", "").strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise BillingError(field, f"{field} must be a whole number")
        raw = int(text)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= AMOUNT_MAX:
        raise BillingError(field, f"{field} must be a whole number from 0 to {AMOUNT_MAX}")
    return raw


def month_start(month: str, tz: str) -> int:
    """The first millisecond of ``month`` in the time zone ``tz`` (epoch ms, UTC)."""
    year, mon = int(month[:4]), int(month[5:7])
    return int(datetime(year, mon, 1, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def next_month(month: str) -> str:
    """The month after ``month``."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def previous_month(month: str) -> str:
    """The month before ``month``."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - (mon == 1):04d}-{(mon - 2) % 12 + 1:02d}"


def month_bounds(month: str, tz: str) -> tuple[int, int]:
    """``[start, end)`` of ``month`` in ``tz`` as epoch ms."""
    return month_start(month, tz), month_start(next_month(month), tz)


def local(ms: int, tz: str) -> datetime:
    """Epoch ms as a datetime in ``tz``."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz))


def month_of(ms: int, tz: str) -> str:
    """The month (``YYYY-MM``) an instant falls in, in ``tz``."""
    return local(ms, tz).strftime("%Y-%m")


def day_of(ms: int, tz: str) -> str:
    """The day (``YYYY-MM-DD``) an instant falls in, in ``tz``."""
    return local(ms, tz).strftime("%Y-%m-%d")


def last_day(month: str) -> str:
    """The month's last day, ``YYYY-MM-DD``."""
    following = date.fromisoformat(next_month(month) + "-01")
    return (following - timedelta(days=1)).isoformat()
