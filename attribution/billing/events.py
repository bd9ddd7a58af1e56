"""Billable events: each call of a month with the price applied, or the reason it is not
billed (issue #20).

Events are derived, never stored while a month is open: a call's verdict, a dispute or a
plan can still change. A closed statement keeps the events it was closed with.

What is billed comes from *event sources*: :func:`call_occurrences` turns calls into
:class:`Occurrence` values of kind ``call``, :func:`reserved_occurrences` turns connected
reserved calls (予約型コール, ``reservation_connections``: talk at least
``CALLPATH_RESERVATION_CONNECTED_SECONDS``) into occurrences of kind ``reserved``, priced by
the plan's ``reserved`` price (接続課金) and following the same rules; the lead's phone is
the caller of the repeat rule. A bridged reserved call is not a tracked call (it is not in
``calls``), so it is billed once.

Why an occurrence is not billed, checked in this order:

``blocked``           the caller was blocked (着信拒否);
``dispute_accepted``  the advertiser disputed it and the portal accepted;
``disqualified``      a person marked the call not qualified (call work, issue #17);
``no_plan``           no plan in effect on the day;
``not_answered``      nobody answered;
``too_short``         talk shorter than the plan's least talk time;
``repeat_caller``     the caller was billed to this advertiser within the plan's window;
``no_price``          no price of the plan applies.

A call a person marked qualified is billed even when short or unanswered (the portal
judged it) but still counts once per window. The repeat window starts at the caller's last
*billed* call, so a caller who calls every few days is billed once per window, and a
withheld number is never a repeat (it is not known to be one person).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from attribution.billing.money import billed_minutes, day_of
from attribution.billing.plans import Plan, plan_on
from attribution.matching import DAY_MS, is_identified_caller
from pool.store import Store, Tx

REASONS = (
    "billable",
    "blocked",
    "dispute_accepted",
    "disqualified",
    "no_plan",
    "not_answered",
    "too_short",
    "repeat_caller",
    "no_price",
)


@dataclass(frozen=True)
class Occurrence:
    """Something that may be billed: a call, or (later) a connected reserved call."""

    kind: str  # "call" | "reserved"
    id: int
    at_ms: int
    caller: str
    tracking_number: str = ""
    source: str = ""
    medium: str = ""
    target_id: int | None = None
    talk_s: int = 0
    answered: bool = True
    blocked: bool = False
    by_hand: bool | None = None  # the verdict a person set, None: none
    dispute_accepted: bool = False

    @property
    def key(self) -> str:
        """The occurrence's name in statements and adjustments (``call:12``)."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Event:
    """An occurrence with its verdict: billed for ``amount_yen`` or not, and why."""

    occurrence: Occurrence
    billable: bool
    reason: str
    amount_yen: int = 0
    minutes: int = 0
    plan_id: int | None = None


Source = Callable[[Store | Tx, int, int, int], Awaitable[list[Occurrence]]]


async def call_occurrences(
    db: Store | Tx, advertiser_id: int, start_ms: int, end_ms: int
) -> list[Occurrence]:
    """The advertiser's calls in ``[start_ms, end_ms)`` and, for the repeat-caller rule, the
    earlier calls of the same callers; oldest first."""
    rows = await db.fetchall(
        "SELECT c.id, c.started_ms, c.caller, c.tracking_number, c.touch_source,"
        " c.touch_medium, p.target_id, c.talk_s, c.answered_ms, c.status, c.qualified_by_hand,"
        " (SELECT COUNT(*) FROM billing_disputes d WHERE d.call_id = c.id"
        "  AND d.status = 'accepted') AS accepted"
        " FROM calls c LEFT JOIN tracking_numbers n ON n.id = c.number_id"
        " LEFT JOIN pools p ON p.id = n.pool_id"
        " WHERE c.advertiser_id = :a AND c.started_ms < :end AND (c.started_ms >= :start"
        "  OR c.caller IN (SELECT m.caller FROM calls m WHERE m.advertiser_id = :a"
        "   AND m.started_ms >= :start AND m.started_ms < :end AND m.caller LIKE '+%'))"
        " ORDER BY c.started_ms, c.id",
        {"a": advertiser_id, "start": start_ms, "end": end_ms},
    )
    return [
        Occurrence(
            kind="call",
            id=int(r["id"]),
            at_ms=int(r["started_ms"]),
            caller=r["caller"],
            tracking_number=r["tracking_number"],
            source=r["touch_source"],
            medium=r["touch_medium"],
            target_id=None if r["target_id"] is None else int(r["target_id"]),
            talk_s=int(r["talk_s"]),
            answered=r["answered_ms"] is not None and int(r["talk_s"]) > 0,
            blocked=r["status"] == "blocked",
            by_hand=None if r["qualified_by_hand"] is None else bool(r["qualified_by_hand"]),
            dispute_accepted=int(r["accepted"]) > 0,
        )
        for r in rows
    ]


async def reserved_occurrences(
    db: Store | Tx, advertiser_id: int, start_ms: int, end_ms: int
) -> list[Occurrence]:
    """The advertiser's connected reserved calls in ``[start_ms, end_ms)`` and, for the
    repeat rule, the earlier connections of the same leads; oldest first."""
    rows = await db.fetchall(
        "SELECT k.id, k.connected_ms, k.medium, k.talk_s, r.lead_phone"
        " FROM reservation_connections k JOIN reservations r ON r.id = k.reservation_id"
        " WHERE k.advertiser_id = :a AND k.connected_ms < :end AND (k.connected_ms >= :start"
        "  OR r.lead_phone IN (SELECT r2.lead_phone FROM reservation_connections k2"
        "   JOIN reservations r2 ON r2.id = k2.reservation_id WHERE k2.advertiser_id = :a"
        "   AND k2.connected_ms >= :start AND k2.connected_ms < :end))"
        " ORDER BY k.connected_ms, k.id",
        {"a": advertiser_id, "start": start_ms, "end": end_ms},
    )
    return [
        Occurrence(
            kind="reserved",
            id=int(r["id"]),
            at_ms=int(r["connected_ms"]),
            caller=r["lead_phone"],
            medium=r["medium"],
            talk_s=int(r["talk_s"]),
        )
        for r in rows
    ]


# Where billable occurrences come from.
SOURCES: tuple[Source, ...] = (call_occurrences, reserved_occurrences)


async def occurrences(
    db: Store | Tx, advertiser_id: int, start_ms: int, end_ms: int
) -> list[Occurrence]:
    """Every source's occurrences (with the callers' history), oldest first."""
    found: list[Occurrence] = []
    for source in SOURCES:
        found += await source(db, advertiser_id, start_ms, end_ms)
    return sorted(found, key=lambda o: (o.at_ms, o.kind, o.id))


def _verdict(o: Occurrence, plan: Plan | None) -> str:
    if o.blocked:
        return "blocked"
    if o.dispute_accepted:
        return "dispute_accepted"
    if o.by_hand is False:
        return "disqualified"
    if plan is None:
        return "no_plan"
    if o.by_hand is None:
        if not o.answered:
            return "not_answered"
        if o.talk_s < plan.min_talk_s:
            return "too_short"
    return "billable"


def _amount(o: Occurrence, plan: Plan) -> tuple[int, int] | None:
    """(amount, minutes) by the plan's prices, or None when no price applies."""
    base = plan.price(o.kind, o.source, o.medium, o.target_id)
    per_minute = plan.price("minute", o.source, o.medium, o.target_id)
    if base is None and per_minute is None:
        return None
    minutes = billed_minutes(o.talk_s) if per_minute is not None else 0
    amount = (base.price_yen if base else 0) + minutes * (per_minute.price_yen if per_minute else 0)
    return amount, minutes


def derive(
    found: Sequence[Occurrence], plans: list[Plan], start_ms: int, end_ms: int, tz: str
) -> list[Event]:
    """The events of ``[start_ms, end_ms)`` from ``found`` (oldest first, with the callers'
    earlier occurrences for the repeat rule), priced by the plan in effect on each day."""
    last_billed: dict[str, int] = {}
    events: list[Event] = []
    for o in found:
        plan = plan_on(plans, day_of(o.at_ms, tz))
        reason = _verdict(o, plan)
        priced: tuple[int, int] | None = None
        if reason == "billable" and plan is not None:
            last = last_billed.get(o.caller)
            if last is not None and o.at_ms - last < plan.repeat_days * DAY_MS:
                reason = "repeat_caller"
            else:
                priced = _amount(o, plan)
                if priced is None:
                    reason = "no_price"
                elif is_identified_caller(o.caller):
                    last_billed[o.caller] = o.at_ms
        if not start_ms <= o.at_ms < end_ms:
            continue
        amount, minutes = priced or (0, 0)
        events.append(
            Event(
                occurrence=o,
                billable=reason == "billable",
                reason=reason,
                amount_yen=amount,
                minutes=minutes,
                plan_id=plan.id if plan else None,
            )
        )
    return events
