"""Qualification: which completed calls count (for reports, conversions, pay-per-call).

Each site may have a row in ``qualification_rules``; without one the defaults apply: the
call was answered and lasted at least 60 seconds of talk. A site may also require a
first-time caller (no earlier call from the same number to the site, within
``first_time_days`` days or ever when 0). A withheld caller id cannot be shown to be new,
so it is never a first-time caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.matching import DAY_MS, is_identified_caller
from pool.store import Row, Store, Tx, fetch_found, now_ms


@dataclass(frozen=True)
class Rules:
    """A site's qualification rules."""

    min_talk_s: int = 60
    require_answered: bool = True
    require_first_time: bool = False
    first_time_days: int = 0


DEFAULT_RULES = Rules()


async def rules_for(db: Store, site_id: int | None) -> Rules:
    """The site's rules, or the defaults when it has none (or the site is unknown)."""
    if site_id is None:
        return DEFAULT_RULES
    row = await db.fetchone(
        "SELECT min_talk_s, require_answered, require_first_time, first_time_days"
        " FROM qualification_rules WHERE site_id = :s",
        {"s": site_id},
    )
    if row is None:
        return DEFAULT_RULES
    return Rules(
        min_talk_s=int(row["min_talk_s"]),
        require_answered=bool(row["require_answered"]),
        require_first_time=bool(row["require_first_time"]),
        first_time_days=int(row["first_time_days"]),
    )


async def set_rules(tx: Tx, *, site_id: int, rules: Rules, now_ms: int) -> None:
    """Create or replace a site's qualification rules."""
    if rules.min_talk_s < 0 or rules.first_time_days < 0:
        raise ValueError("min_talk_s and first_time_days must not be negative")
    await tx.execute(
        "INSERT INTO qualification_rules (site_id, min_talk_s, require_answered,"
        " require_first_time, first_time_days, updated_ms) VALUES (:s, :m, :a, :f, :d, :t)"
        " ON CONFLICT (site_id) DO UPDATE SET min_talk_s = :m, require_answered = :a,"
        " require_first_time = :f, first_time_days = :d, updated_ms = :t",
        {
            "s": site_id,
            "m": rules.min_talk_s,
            "a": int(rules.require_answered),
            "f": int(rules.require_first_time),
            "d": rules.first_time_days,
            "t": now_ms,
        },
    )


def was_answered(call: Row) -> bool:
    """Whether the business picked up: an answer time, or any talk time."""
    return call["answered_ms"] is not None or int(call["talk_s"] or 0) > 0


async def is_first_time(db: Store, call: Row, rules: Rules) -> bool:
    """No earlier call from this caller to the same site (or advertiser, without a site)."""
    caller = str(call["caller"] or "")
    if not is_identified_caller(caller):
        return False
    since = 0
    if rules.first_time_days > 0:
        since = int(call["started_ms"]) - rules.first_time_days * DAY_MS
    scope, scope_id = (
        ("site_id", call["site_id"])
        if call["site_id"] is not None
        else ("advertiser_id", call["advertiser_id"])
    )
    if scope_id is None:
        return True
    earlier = await db.fetchval(
        f"SELECT 1 FROM calls WHERE {scope} = :scope AND caller = :c"
        " AND id <> :id AND started_ms >= :since"
        " AND (started_ms < :t OR (started_ms = :t AND id < :id)) LIMIT 1",
        {
            "scope": scope_id,
            "c": caller,
            "id": call["id"],
            "since": since,
            "t": call["started_ms"],
        },
    )
    return earlier is None


def qualifies(call: Row, rules: Rules, first_time: bool) -> bool:
    """Apply ``rules`` to one call row (pure)."""
    if rules.require_answered and not was_answered(call):
        return False
    if int(call["talk_s"] or 0) < rules.min_talk_s:
        return False
    return not (rules.require_first_time and not first_time)


async def qualify_call(db: Store, *, call_id: int) -> bool:
    """Apply the site's rules to a completed call; store ``qualified`` and ``first_time``.

    Returns whether the call is qualified. Raises LookupError for an unknown call id. A
    verdict set by hand (``qualified_by_hand``, attribution.call_work) wins over the rules:
    it is returned and kept, while ``first_time`` is still updated.
    """
    call = await fetch_found(
        db,
        "SELECT id, site_id, advertiser_id, caller, started_ms, answered_ms, talk_s,"
        " qualified_by_hand FROM calls WHERE id = :id",
        {"id": call_id},
        f"no call {call_id}",
    )
    site_id = None if call["site_id"] is None else int(call["site_id"])
    rules = await rules_for(db, site_id)
    first_time = await is_first_time(db, call, rules)
    qualified = qualifies(call, rules, first_time)
    if call["qualified_by_hand"] is not None:
        qualified = bool(call["qualified_by_hand"])
    await db.execute(
        "UPDATE calls SET qualified = :q, first_time = :f, updated_ms = :t WHERE id = :id",
        {"q": int(qualified), "f": int(first_time), "t": now_ms(), "id": call_id},
    )
    return qualified
