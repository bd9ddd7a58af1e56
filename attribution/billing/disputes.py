"""Disputes: an advertiser's user says a billed call should not be billed (issue #20).

A user of the call's advertiser opens a dispute with a reason; the portal (an
administrator) accepts it (the call stops being billable, ``dispute_accepted``, the reason
kept) or rejects it with a note. One dispute per call is open at a time; a rejected one may
be followed by a new one. Every step is in the billing audit trail, in the unit of work of
the step. A month with open disputes cannot be closed unless the portal forces it
(:func:`attribution.billing.statements.close`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from attribution.billing.money import BillingError
from attribution.billing.plans import audit
from pool.scope import Scope
from pool.store import Row, Store, Tx, and_given, fetch_found

REASON_MAX = 500
NOTE_MAX = 500
DECISIONS = ("accepted", "rejected")
STATUSES = ("open", *DECISIONS)


def _text(raw: Any, field: str, limit: int, *, required: bool) -> str:
    if not isinstance(raw, str):
        raise BillingError(field, f"{field} must be text")
    value = raw.strip().replace("\r\n", "\n")
    if len(value) > limit:
        raise BillingError(field, f"{field} is longer than {limit} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" for c in value):
        raise BillingError(field, f"{field} has control characters")
    if required and not value:
        raise BillingError(field, f"say why ({field})")
    return value


async def open_dispute(tx: Tx, *, call_id: int, reason: str, actor: str, now_ms: int) -> int:
    """Open a dispute of a call; its id. LookupError for an unknown call or one without an
    advertiser, BillingError when one is open already or the reason is missing."""
    text = _text(reason, "reason", REASON_MAX, required=True)
    advertiser = await tx.fetchval("SELECT advertiser_id FROM calls WHERE id = :c", {"c": call_id})
    if advertiser is None:
        raise LookupError(f"no call {call_id}")
    # The partial unique index of live disputes (m0044) makes a second live dispute of the
    # call a no-op, also when two people dispute it at the same moment.
    new_id = await tx.fetchval(
        "INSERT INTO billing_disputes (advertiser_id, call_id, status, reason, opened_by,"
        " opened_ms) VALUES (:a, :c, 'open', :r, :by, :t) ON CONFLICT DO NOTHING RETURNING id",
        {"a": advertiser, "c": call_id, "r": text, "by": actor, "t": now_ms},
    )
    if new_id is None:
        raise BillingError("reason", "this call is disputed already")
    dispute_id = int(new_id)
    what = ("dispute", dispute_id, "open")
    await audit(tx, int(advertiser), actor, now_ms, what, f"call {call_id}: {text}")
    return dispute_id


async def decide(
    tx: Tx, *, dispute_id: int, decision: str, note: str, actor: str, now_ms: int
) -> None:
    """Accept or reject an open dispute with a note (required to reject). LookupError for
    an unknown dispute, BillingError for a decided one or a bad decision."""
    if decision not in DECISIONS:
        raise BillingError("decision", "the decision is accepted or rejected")
    text = _text(note, "note", NOTE_MAX, required=decision == "rejected")
    row = await fetch_found(
        tx,
        "SELECT advertiser_id, call_id, status FROM billing_disputes WHERE id = :d",
        {"d": dispute_id},
        f"no dispute {dispute_id}",
    )
    if row["status"] != "open":
        raise BillingError("decision", "this dispute is decided already")
    await tx.execute(
        "UPDATE billing_disputes SET status = :s, note = :n, decided_by = :by,"
        " decided_ms = :t WHERE id = :d",
        {"s": decision, "n": text, "by": actor, "t": now_ms, "d": dispute_id},
    )
    what = ("dispute", dispute_id, decision)
    await audit(
        tx, int(row["advertiser_id"]), actor, now_ms, what, f"call {row['call_id']}: {text}"
    )


async def disputes(
    db: Store | Tx, scope: Scope, *, status: str | None = None, call_id: int | None = None
) -> list[Row]:
    """Disputes in the scope, newest first, with the advertiser's name and the call's time."""
    where, params = scope.and_condition("d", site=None)
    where += and_given(
        params, ("d.status = :status", "status", status), ("d.call_id = :call", "call", call_id)
    )
    return await db.fetchall(
        "SELECT d.id, d.advertiser_id, a.name AS advertiser, d.call_id, c.started_ms,"
        " c.tracking_number, d.status, d.reason, d.note, d.opened_by, d.opened_ms,"
        " d.decided_by, d.decided_ms FROM billing_disputes d"
        " JOIN advertisers a ON a.id = d.advertiser_id JOIN calls c ON c.id = d.call_id"
        f" WHERE 1 = 1{where} ORDER BY d.opened_ms DESC, d.id DESC LIMIT 500",
        params,
    )


async def audit_trail(db: Store | Tx, scope: Scope, *, limit: int = 200) -> list[Row]:
    """The billing audit trail in the scope, newest first (the portal's default plans are
    only in a scope of every advertiser)."""
    where, params = scope.where_condition("b", site=None)
    return await db.fetchall(
        "SELECT b.at_ms, b.actor, b.subject, b.subject_id, b.action, b.detail, b.advertiser_id"
        f" FROM billing_audit b{where} ORDER BY b.at_ms DESC, b.id DESC LIMIT {int(limit)}",
        params,
    )
