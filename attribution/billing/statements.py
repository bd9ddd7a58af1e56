"""Monthly statements: open → closed (locked) → sent (issue #20).

An open month's statement is computed from the calls, disputes and plans as they are now.
Closing it writes the statement as it stands (``billing_statements.body``: canonical JSON,
never written again) with its totals; from then on it is read back byte for byte, whatever
happens to the calls or plans. A later change that would have changed a closed month (a
call disqualified, a dispute accepted, a plan that starts inside it) appears on the next
open statement as an *adjustment*: the month recomputed now, less what was billed when it
closed and in adjustments since. Closed months older than :data:`ADJUST_MONTHS` are not
looked at again.

Totals: usage (the billable lines) less what goes over the plan's monthly cap, plus the
monthly fee and the adjustments, is the taxable total; consumption tax is computed once on
it and rounded down (:func:`attribution.billing.money.consumption_tax`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from attribution.billing import events as ev
from attribution.billing.money import (
    BillingError,
    check_month,
    consumption_tax,
    last_day,
    local,
    month_bounds,
    previous_month,
)
from attribution.billing.plans import audit, plan_on, plans_of
from pool.store import Row, Store, Tx

ADJUST_MONTHS = 12
STATUSES = ("open", "closed", "sent")


class StatementConflict(BillingError):
    """A statement cannot move that way (already closed, open disputes, month not over)."""


@dataclass(frozen=True)
class Terms:
    """The install's billing terms: who issues the statements and how they are taxed."""

    issuer_name: str = ""
    registration_number: str = ""  # T + 13 digits, checked where it is set
    tax_percent: int = 10
    currency: str = "JPY"
    tz: str = "Asia/Tokyo"


@dataclass(frozen=True)
class Statement:
    """A statement: its status and its document (the closed one as stored)."""

    advertiser_id: int
    month: str
    status: str
    body: dict[str, Any]
    closed_ms: int | None = None
    sent_ms: int | None = None
    forced: bool = False


def canonical(body: dict[str, Any]) -> str:
    """The one text of a statement's document (sorted keys, no spaces, UTF-8 as is)."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class _Month:
    events: list[ev.Event]
    usage: int
    cap_reduction: int
    fee: int
    plan_id: int | None
    cap: int | None

    @property
    def charge(self) -> int:
        return self.usage - self.cap_reduction + self.fee

    def amounts(self) -> dict[str, int]:
        return {e.occurrence.key: e.amount_yen for e in self.events if e.billable}


async def _month(db: Store | Tx, advertiser_id: int, month: str, terms: Terms) -> _Month:
    start, end = month_bounds(month, terms.tz)
    plans = await plans_of(db, advertiser_id)
    found = await ev.occurrences(db, advertiser_id, start, end)
    events = ev.derive(found, plans, start, end, terms.tz)
    plan = plan_on(plans, last_day(month))
    usage = sum(e.amount_yen for e in events if e.billable)
    cap = plan.monthly_cap_yen if plan else None
    reduction = max(0, usage - cap) if cap is not None else 0
    fee = plan.monthly_fee_yen if plan else 0
    return _Month(events, usage, reduction, fee, plan.id if plan else None, cap)


def _line(e: ev.Event, tz: str) -> dict[str, Any]:
    o = e.occurrence
    return {
        "key": o.key,
        "kind": o.kind,
        "id": o.id,
        "at": local(o.at_ms, tz).strftime("%Y-%m-%d %H:%M"),
        "tracking_number": o.tracking_number,
        "source": o.source,
        "medium": o.medium,
        "talk_s": o.talk_s,
        "minutes": e.minutes,
        "amount_yen": e.amount_yen,
        "reason": e.reason,
    }


async def _closed_rows(db: Store | Tx, advertiser_id: int) -> list[Row]:
    return await db.fetchall(
        "SELECT month, status, body, closed_ms, sent_ms, forced FROM billing_statements"
        " WHERE advertiser_id = :a ORDER BY month",
        {"a": advertiser_id},
    )


def _order(key: str) -> tuple[str, int]:
    kind, _, ident = key.partition(":")
    return kind, int(ident) if ident.isdigit() else 0


async def _adjustments(
    db: Store | Tx, advertiser_id: int, month: str, terms: Terms, closed: list[Row]
) -> list[dict[str, Any]]:
    """The adjustment lines for ``month``: every closed earlier month recomputed now, less
    what it billed and what later closed statements adjusted for it already."""
    earliest = month
    for _ in range(ADJUST_MONTHS):
        earliest = previous_month(earliest)
    bodies = {r["month"]: json.loads(r["body"]) for r in closed}
    lines: list[dict[str, Any]] = []
    for past in sorted(m for m in bodies if earliest <= m < month):
        snap = bodies[past]
        billed = {line["key"]: int(line["amount_yen"]) for line in snap["lines"]}
        charged = int(snap["usage_yen"]) - int(snap["cap_reduction_yen"]) + int(snap["fee_yen"])
        for later, body in bodies.items():
            if past < later < month:
                for adj in body["adjustments"]:
                    if adj["for_month"] == past:
                        billed[adj["key"]] = billed.get(adj["key"], 0) + int(adj["amount_yen"])
                        charged += int(adj["amount_yen"])
        now = await _month(db, advertiser_id, past, terms)
        by_key = {e.occurrence.key: e for e in now.events}
        amounts = now.amounts()
        keyed = 0
        for key in sorted(set(billed) | set(amounts), key=_order):
            diff = amounts.get(key, 0) - billed.get(key, 0)
            if diff == 0 or key.startswith("month:"):
                continue
            keyed += diff
            e = by_key.get(key)
            lines.append(
                {
                    "for_month": past,
                    "key": key,
                    "at": _line(e, terms.tz)["at"] if e else "",
                    "reason": e.reason if e else "removed",
                    "amount_yen": diff,
                }
            )
        rest = now.charge - charged - keyed
        if rest:
            # The cap and the fee: what the per-call differences do not explain.
            lines.append(
                {
                    "for_month": past,
                    "key": f"month:{past}",
                    "at": "",
                    "reason": "cap_or_fee",
                    "amount_yen": rest,
                }
            )
    return lines


async def compute(db: Store | Tx, advertiser_id: int, month: str, terms: Terms) -> dict[str, Any]:
    """The statement document of ``month`` as the data stand now (open or about to close)."""
    check_month(month)
    name = await db.fetchval("SELECT name FROM advertisers WHERE id = :a", {"a": advertiser_id})
    if name is None:
        raise LookupError(f"no advertiser {advertiser_id}")
    now = await _month(db, advertiser_id, month, terms)
    adjustments = await _adjustments(
        db, advertiser_id, month, terms, await _closed_rows(db, advertiser_id)
    )
    adjusted = sum(int(a["amount_yen"]) for a in adjustments)
    taxable = now.charge + adjusted
    tax = consumption_tax(taxable, terms.tax_percent)
    not_billed: dict[str, int] = {}
    for e in now.events:
        if not e.billable:
            not_billed[e.reason] = not_billed.get(e.reason, 0) + 1
    return {
        "advertiser": {"id": advertiser_id, "name": name},
        "month": month,
        "issuer": {"name": terms.issuer_name, "registration_number": terms.registration_number},
        "currency": terms.currency,
        "tax_percent": terms.tax_percent,
        "tax_rounding": "down",
        "plan_id": now.plan_id,
        "lines": [_line(e, terms.tz) for e in now.events if e.billable],
        "occurrences": len(now.events),
        "billable": sum(1 for e in now.events if e.billable),
        "disputed": not_billed.get("dispute_accepted", 0),
        "not_billed": dict(sorted(not_billed.items())),
        "usage_yen": now.usage,
        "cap_yen": now.cap,
        "cap_reduction_yen": now.cap_reduction,
        "fee_yen": now.fee,
        "adjustments": adjustments,
        "adjustments_yen": adjusted,
        "taxable_yen": taxable,
        "tax_yen": tax,
        "total_yen": taxable + tax,
    }


async def statement(db: Store | Tx, advertiser_id: int, month: str, terms: Terms) -> Statement:
    """The month's statement: the stored one once closed, else computed now (``open``)."""
    check_month(month)
    row = await db.fetchone(
        "SELECT status, body, closed_ms, sent_ms, forced FROM billing_statements"
        " WHERE advertiser_id = :a AND month = :m",
        {"a": advertiser_id, "m": month},
    )
    if row is not None:
        return Statement(
            advertiser_id,
            month,
            row["status"],
            json.loads(row["body"]),
            int(row["closed_ms"]),
            None if row["sent_ms"] is None else int(row["sent_ms"]),
            bool(row["forced"]),
        )
    return Statement(advertiser_id, month, "open", await compute(db, advertiser_id, month, terms))


async def stored_body(db: Store | Tx, advertiser_id: int, month: str) -> str | None:
    """The closed statement's document exactly as stored, or None while open."""
    value = await db.fetchval(
        "SELECT body FROM billing_statements WHERE advertiser_id = :a AND month = :m",
        {"a": advertiser_id, "m": month},
    )
    return None if value is None else str(value)


async def open_disputes(db: Store | Tx, advertiser_id: int, month: str, tz: str) -> int:
    """How many disputes of the month's calls are still open."""
    start, end = month_bounds(month, tz)
    return int(
        await db.fetchval(
            "SELECT COUNT(*) FROM billing_disputes d JOIN calls c ON c.id = d.call_id"
            " WHERE d.advertiser_id = :a AND d.status = 'open' AND c.started_ms >= :s"
            " AND c.started_ms < :e",
            {"a": advertiser_id, "s": start, "e": end},
        )
    )


async def close(
    tx: Tx,
    *,
    advertiser_id: int,
    month: str,
    terms: Terms,
    actor: str,
    now_ms: int,
    force: bool = False,
) -> Statement:
    """Close (lock) the month's statement in the unit of work ``tx``.

    StatementConflict when the month is not over, is closed already, or has open disputes
    (unless ``force``: closed anyway, and the statement says so).
    """
    check_month(month)
    if not await tx.fetchval("SELECT id FROM advertisers WHERE id = :a", {"a": advertiser_id}):
        raise LookupError(f"no advertiser {advertiser_id}")
    _, end = month_bounds(month, terms.tz)
    if now_ms < end:
        raise StatementConflict("month", "the month is not over yet")
    if await stored_body(tx, advertiser_id, month) is not None:
        raise StatementConflict("month", "the month is closed already")
    disputes = await open_disputes(tx, advertiser_id, month, terms.tz)
    if disputes and not force:
        raise StatementConflict("force", f"{disputes} dispute(s) of the month are still open")
    body = await compute(tx, advertiser_id, month, terms)
    # Two closings at once (PostgreSQL runs units side by side): the second finds the
    # first's row at the unique (advertiser, month) and is refused like a later one.
    stored = await tx.fetchval(
        "INSERT INTO billing_statements (advertiser_id, month, status, body, taxable_yen,"
        " tax_yen, total_yen, forced, closed_by, closed_ms)"
        " VALUES (:a, :m, 'closed', :b, :x, :t, :tot, :f, :by, :now)"
        " ON CONFLICT (advertiser_id, month) DO NOTHING RETURNING id",
        {
            "a": advertiser_id,
            "m": month,
            "b": canonical(body),
            "x": body["taxable_yen"],
            "t": body["tax_yen"],
            "tot": body["total_yen"],
            "f": int(bool(disputes)),
            "by": actor,
            "now": now_ms,
        },
    )
    if stored is None:
        raise StatementConflict("month", "the month is closed already")
    detail = f"{month}: {body['total_yen']}" + (f" (forced, {disputes} open)" if disputes else "")
    await audit(tx, advertiser_id, actor, now_ms, ("statement", None, "close"), detail)
    return Statement(advertiser_id, month, "closed", body, now_ms, None, bool(disputes))


async def mark_sent(tx: Tx, *, advertiser_id: int, month: str, actor: str, now_ms: int) -> None:
    """Record that a closed statement was sent (StatementConflict while it is open)."""
    done = await tx.fetchval(
        "UPDATE billing_statements SET status = 'sent', sent_by = :by, sent_ms = :now"
        " WHERE advertiser_id = :a AND month = :m AND status = 'closed' RETURNING id",
        {"a": advertiser_id, "m": check_month(month), "by": actor, "now": now_ms},
    )
    if done is None:
        raise StatementConflict("month", "only a closed statement can be marked sent")
    await audit(tx, advertiser_id, actor, now_ms, ("statement", int(done), "send"), month)


async def closed_months(db: Store | Tx, advertiser_ids: list[int]) -> dict[tuple[int, str], Row]:
    """The closed statements of these advertisers, by (advertiser, month): status and totals."""
    if not advertiser_ids:
        return {}
    marks = ", ".join(f":a{i}" for i in range(len(advertiser_ids)))
    rows = await db.fetchall(
        "SELECT advertiser_id, month, status, taxable_yen, tax_yen, total_yen, closed_ms,"
        f" sent_ms, forced FROM billing_statements WHERE advertiser_id IN ({marks})",
        {f"a{i}": a for i, a in enumerate(advertiser_ids)},
    )
    return {(int(r["advertiser_id"]), r["month"]): r for r in rows}
