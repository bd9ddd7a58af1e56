"""Price plans: what an advertiser pays, from which day (issue #20).

A plan belongs to one advertiser, or to none: the portal's default, which applies to an
advertiser without a plan of its own in effect. A plan is in effect from its
``effective_from`` day (in the billing time zone) until the next plan of the same owner
begins. Plans are never changed or deleted once written: a new price is a new plan. A plan
that starts inside a month already closed is allowed (a correction agreed afterwards); the
closed statement stays as it was and the difference appears as an adjustment on the next
open month (:mod:`attribution.billing.statements`).

Prices: ``call`` per billable call, ``minute`` per answered minute (rounded up),
``reserved`` per connected reserved call. A price may apply to any call or only to a
source, a medium and/or a target (the branch's business number); the most specific price
that matches wins (a tie goes to the price written first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attribution.billing.money import BillingError, check_amount, check_day
from pool.store import Store, Tx, from_row

PRICE_KINDS = ("call", "minute", "reserved")
LABEL_MAX = 80
MATCH_MAX = 100
PRICES_MAX = 50
REPEAT_DAYS_MAX = 365
MIN_TALK_MAX = 3600


@dataclass(frozen=True)
class Price:
    """One price of a plan."""

    kind: str
    price_yen: int
    source: str = ""
    medium: str = ""
    target_id: int | None = None
    id: int = 0

    def matches(self, source: str, medium: str, target_id: int | None) -> bool:
        """Whether the price applies to a call of this source, medium and target."""
        return (
            (not self.source or self.source == source)
            and (not self.medium or self.medium == medium)
            and (self.target_id is None or self.target_id == target_id)
        )

    @property
    def specificity(self) -> int:
        """How many conditions the price has (more wins)."""
        return bool(self.source) + bool(self.medium) + (self.target_id is not None)


@dataclass(frozen=True)
class Plan:
    """A price plan (``advertiser_id`` None: the portal's default)."""

    advertiser_id: int | None
    effective_from: str
    label: str = ""
    min_talk_s: int = 60
    repeat_days: int = 0
    monthly_fee_yen: int = 0
    monthly_cap_yen: int | None = None
    prices: tuple[Price, ...] = field(default_factory=tuple)
    id: int = 0
    created_by: str = ""

    def price(self, kind: str, source: str, medium: str, target_id: int | None) -> Price | None:
        """The most specific price of ``kind`` for a call, or None."""
        best: Price | None = None
        for p in self.prices:
            if p.kind == kind and p.matches(source, medium, target_id):
                if best is None or p.specificity > best.specificity:
                    best = p
        return best


def _text(raw: Any, field_name: str, limit: int) -> str:
    if not isinstance(raw, str):
        raise BillingError(field_name, f"{field_name} must be text")
    value = raw.strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise BillingError(field_name, f"{field_name} is at most {limit} characters of text")
    return value


def _whole(raw: Any, field_name: str, high: int) -> int:
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= high:
        raise BillingError(field_name, f"{field_name} must be a whole number from 0 to {high}")
    return raw


def check_plan(raw: dict[str, Any], advertiser_id: int | None) -> Plan:
    """A plan from plain values (a form or a JSON body); BillingError for a bad one."""
    prices_raw = raw.get("prices", [])
    if not isinstance(prices_raw, list) or len(prices_raw) > PRICES_MAX:
        raise BillingError("prices", f"prices is a list of at most {PRICES_MAX}")
    prices = []
    for item in prices_raw:
        if not isinstance(item, dict):
            raise BillingError("prices", "each price is an object")
        kind = item.get("kind")
        if kind not in PRICE_KINDS:
            raise BillingError("kind", f"kind must be one of {', '.join(PRICE_KINDS)}")
        target = item.get("target_id")
        if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
            raise BillingError("target_id", "target_id must be a target's id")
        price = check_amount(item.get("price_yen"), "price_yen")
        assert price is not None
        prices.append(
            Price(
                kind=kind,
                price_yen=price,
                source=_text(item.get("source", ""), "source", MATCH_MAX),
                medium=_text(item.get("medium", ""), "medium", MATCH_MAX),
                target_id=target,
            )
        )
    fee = check_amount(raw.get("monthly_fee_yen", 0), "monthly_fee_yen")
    assert fee is not None
    return Plan(
        advertiser_id=advertiser_id,
        effective_from=check_day(raw.get("effective_from", "")),
        label=_text(raw.get("label", ""), "label", LABEL_MAX),
        min_talk_s=_whole(raw.get("min_talk_s", 60), "min_talk_s", MIN_TALK_MAX),
        repeat_days=_whole(raw.get("repeat_days", 0), "repeat_days", REPEAT_DAYS_MAX),
        monthly_fee_yen=fee,
        monthly_cap_yen=check_amount(raw.get("monthly_cap_yen"), "monthly_cap_yen", optional=True),
        prices=tuple(prices),
    )


async def add_plan(tx: Tx, plan: Plan, *, actor: str, now_ms: int) -> int:
    """Write a plan and its prices (never changed afterwards) and audit it; the plan's id.
    BillingError for a target that is not the advertiser's."""
    for p in plan.prices:
        if p.target_id is not None:
            owner = await tx.fetchval(
                "SELECT s.advertiser_id FROM targets t JOIN sites s ON s.id = t.site_id"
                " WHERE t.id = :t",
                {"t": p.target_id},
            )
            if owner is None or (plan.advertiser_id is not None and owner != plan.advertiser_id):
                raise BillingError("target_id", "no such target for this advertiser")
    plan_id = int(
        await tx.fetchval(
            "INSERT INTO billing_plans (advertiser_id, effective_from, label, min_talk_s,"
            " repeat_days, monthly_fee_yen, monthly_cap_yen, created_ms, created_by)"
            " VALUES (:a, :f, :l, :m, :r, :fee, :cap, :t, :by) RETURNING id",
            {
                "a": plan.advertiser_id,
                "f": plan.effective_from,
                "l": plan.label,
                "m": plan.min_talk_s,
                "r": plan.repeat_days,
                "fee": plan.monthly_fee_yen,
                "cap": plan.monthly_cap_yen,
                "t": now_ms,
                "by": actor,
            },
        )
    )
    for p in plan.prices:
        await tx.execute(
            "INSERT INTO billing_prices (plan_id, kind, source, medium, target_id, price_yen)"
            " VALUES (:p, :k, :s, :m, :t, :y)",
            {
                "p": plan_id,
                "k": p.kind,
                "s": p.source,
                "m": p.medium,
                "t": p.target_id,
                "y": p.price_yen,
            },
        )
    await audit(
        tx, plan.advertiser_id, actor, now_ms, ("plan", plan_id, "add"), plan.effective_from
    )
    return plan_id


async def audit(
    tx: Tx, advertiser_id: int | None, actor: str, now_ms: int, what: tuple[str, int | None, str],
    detail: str = "",
) -> None:  # fmt: skip
    """One line of the billing audit trail, in the unit of work of the change: ``what`` is
    (subject, its id, action), e.g. ``("dispute", 12, "accepted")``."""
    subject, subject_id, action = what
    await tx.execute(
        "INSERT INTO billing_audit (advertiser_id, at_ms, actor, subject, subject_id, action,"
        " detail) VALUES (:a, :t, :actor, :s, :i, :act, :d)",
        {
            "a": advertiser_id,
            "t": now_ms,
            "actor": actor,
            "s": subject,
            "i": subject_id,
            "act": action,
            "d": detail[:500],
        },
    )


async def plans_of(db: Store | Tx, advertiser_id: int | None, *, every: bool = False) -> list[Plan]:
    """The advertiser's own plans and the portal's default plans (advertiser None: the
    default ones only; ``every``: every advertiser's too), oldest first."""
    who = "advertiser_id IS NULL" + (" OR advertiser_id = :a" if advertiser_id else "")
    if every:
        who, advertiser_id = "1 = 1", None
    rows = await db.fetchall(
        "SELECT id, advertiser_id, effective_from, label, min_talk_s, repeat_days,"
        f" monthly_fee_yen, monthly_cap_yen, created_by FROM billing_plans WHERE {who}"
        " ORDER BY effective_from, id",
        {"a": advertiser_id} if advertiser_id else {},
    )
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    marks = ", ".join(f":p{i}" for i in range(len(ids)))
    prices: dict[int, list[Price]] = {}
    for p in await db.fetchall(
        "SELECT id, plan_id, kind, source, medium, target_id, price_yen FROM billing_prices"
        f" WHERE plan_id IN ({marks}) ORDER BY id",
        {f"p{i}": v for i, v in enumerate(ids)},
    ):
        prices.setdefault(int(p["plan_id"]), []).append(from_row(Price, p))
    return [from_row(Plan, {**r, "prices": tuple(prices.get(int(r["id"]), []))}) for r in rows]


def plan_on(plans: list[Plan], day: str) -> Plan | None:
    """The plan in effect on ``day`` (``YYYY-MM-DD``): the advertiser's latest own plan
    begun by then, else the portal's latest default begun by then, else None."""
    own = [p for p in plans if p.advertiser_id is not None and p.effective_from <= day]
    if own:
        return max(own, key=lambda p: (p.effective_from, p.id))
    default = [p for p in plans if p.advertiser_id is None and p.effective_from <= day]
    return max(default, key=lambda p: (p.effective_from, p.id)) if default else None


def plan_out(plan: Plan) -> dict[str, Any]:
    """A plan as plain data (API, statements)."""
    return {
        "id": plan.id,
        "advertiser_id": plan.advertiser_id,
        "effective_from": plan.effective_from,
        "label": plan.label,
        "min_talk_s": plan.min_talk_s,
        "repeat_days": plan.repeat_days,
        "monthly_fee_yen": plan.monthly_fee_yen,
        "monthly_cap_yen": plan.monthly_cap_yen,
        "prices": [
            {
                "kind": p.kind,
                "price_yen": p.price_yen,
                "source": p.source,
                "medium": p.medium,
                "target_id": p.target_id,
            }
            for p in plan.prices
        ],
    }
