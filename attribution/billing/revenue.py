"""The portal's revenue report: per advertiser and month, calls, billable calls, accepted
disputes and the amount, with the trend against the month before (issue #20).

A closed month is read from its statement as closed; an open one is computed now. The
amount is the taxable total (before consumption tax), adjustments included, as billed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from attribution.billing.money import previous_month
from attribution.billing.statements import Terms, compute
from pool.store import Store, Tx

MONTHS_MAX = 24


@dataclass(frozen=True)
class RevenueCell:
    """One advertiser's month."""

    advertiser_id: int
    advertiser: str
    month: str
    status: str
    calls: int
    billable: int
    disputed: int
    amount_yen: int
    change_yen: int | None  # against the month before (None for the first month shown)
    change_percent: int | None  # whole percent, toward zero; None when the month before is 0


def months_ending(month: str, count: int) -> list[str]:
    """``count`` months up to ``month``, oldest first."""
    months = [month]
    for _ in range(max(1, min(count, MONTHS_MAX)) - 1):
        months.append(previous_month(months[-1]))
    return months[::-1]


async def report(
    db: Store | Tx, advertisers: list[tuple[int, str]], months: list[str], terms: Terms
) -> list[RevenueCell]:
    """The cells of ``advertisers`` (id, name) × ``months`` (oldest first), by advertiser."""
    cells: list[RevenueCell] = []
    for advertiser_id, name in advertisers:
        closed = {
            r["month"]: r
            for r in await db.fetchall(
                "SELECT month, status, body FROM billing_statements WHERE advertiser_id = :a",
                {"a": advertiser_id},
            )
        }
        before: int | None = None
        for month in months:
            row = closed.get(month)
            body: dict[str, Any]
            if row is not None:
                body, status = json.loads(row["body"]), row["status"]
            else:
                body, status = await compute(db, advertiser_id, month, terms), "open"
            amount = int(body["taxable_yen"])
            change = None if before is None else amount - before
            percent = _percent(change, before) if change is not None and before else None
            cells.append(
                RevenueCell(
                    advertiser_id,
                    name,
                    month,
                    status,
                    int(body["occurrences"]),
                    int(body["billable"]),
                    int(body["disputed"]),
                    amount,
                    change,
                    percent,
                )
            )
            before = amount
    return cells


def _percent(change: int, before: int) -> int:
    """``change`` as whole percent of ``before``, toward zero, in integers."""
    magnitude = abs(change) * 100 // abs(before)
    return magnitude if (change >= 0) == (before > 0) else -magnitude
