"""Matching a call to the session that saw the dialled number.

The dialled number and the call's start time give the leases that held the number then:
live at that moment, or ended within the pool's grace window before it (a visitor who
closes the tab and calls straight away is still matched). How each call was matched is
part of the answer, never guessed silently:

- ``lease``: exactly one session held the number.
- ``repeat_caller``: the caller was matched to a session of the same site within
  ``repeat_days`` days before, and that session once held this number (or nobody holds it
  now). This wins over a newer stranger's lease on a reused number: the caller kept the
  number from their own visit.
- ``ambiguous``: several sessions held the number (reuse within the grace window); all are
  kept as candidates and the most recently active one is chosen.
- ``overflow``: the number is the pool's overflow number, shared by sessions that found the
  pool exhausted. One candidate is chosen; with several none is (a guess among many would
  be silently wrong), but all are kept.
- ``static_source``: a source-level number (one per medium: a flyer, a listing); the
  number itself is the attribution.
- ``none``: nobody held the number, or the number is unknown.

Pure read: the caller (telephony) stores the result on the call row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pool import leases
from pool.leases import LeaseRecord
from pool.numbers import NumberError, to_e164
from pool.store import Row, Store

DAY_MS = 86_400_000

METHODS = ("lease", "repeat_caller", "ambiguous", "overflow", "static_source", "none")

# Caller ids carriers send for withheld numbers (Twilio's anonymous/restricted/unknown/
# blocked stand-ins among them): they identify nobody, so never a repeat caller.
_ANONYMOUS = {
    "",
    "anonymous",
    "restricted",
    "unknown",
    "unavailable",
    "private",
    "+266696687",
    "+86282452253",
    "+7378742833",
    "+2562533",
}


@dataclass(frozen=True)
class CallMatch:
    """Where a call came from: the number's facts and the session it is attributed to."""

    number_id: int | None
    site_id: int | None
    advertiser_id: int | None
    forward_to: str
    kind: str
    method: str
    session_id: int | None = None
    lease_id: int | None = None
    candidates: list[int] = field(default_factory=list)
    pool_id: int | None = None


def is_identified_caller(caller: str) -> bool:
    """Whether a caller id names a real line (not withheld / anonymous)."""
    return caller.strip().lower() not in _ANONYMOUS and caller.strip().startswith("+")


async def _number(db: Store, tracking_number: str) -> Row | None:
    sql = (
        "SELECT n.id, n.advertiser_id, n.forward_to, n.kind, n.pool_id,"
        " COALESCE(n.site_id, p.site_id) AS site_id"
        " FROM tracking_numbers n LEFT JOIN pools p ON p.id = n.pool_id"
        " WHERE n.number = :num"
    )
    row = await db.fetchone(sql, {"num": tracking_number.strip()})
    if row is not None:
        return row
    try:
        # Carriers and CDR files sometimes send national formats; libphonenumber decides.
        e164 = to_e164(tracking_number, "JP")
    except NumberError:
        return None
    if e164 == tracking_number.strip():
        return None
    return await db.fetchone(sql, {"num": e164})


async def _holders(db: Store, *, number_id: int, at_ms: int) -> list[LeaseRecord]:
    """The number's holders at ``at_ms`` (see :func:`pool.leases.holders`), most recently
    active first: that order decides which session an ambiguous call goes to."""
    found = await leases.holders(db, number_id=number_id, at_ms=at_ms)
    return sorted(found, key=lambda h: (h.last_seen_ms, h.lease_id), reverse=True)


async def _previous_session(
    db: Store, *, caller: str, site_id: int, started_ms: int, repeat_days: int
) -> int | None:
    """The session this caller's latest earlier matched call on the site went to."""
    if repeat_days <= 0 or not is_identified_caller(caller):
        return None
    value = await db.fetchval(
        "SELECT session_id FROM calls"
        " WHERE site_id = :s AND caller = :c AND started_ms < :t AND started_ms >= :since"
        "   AND session_id IS NOT NULL"
        " ORDER BY started_ms DESC, id DESC LIMIT 1",
        {
            "s": site_id,
            "c": caller.strip(),
            "t": started_ms,
            "since": started_ms - repeat_days * DAY_MS,
        },
    )
    return None if value is None else int(value)


async def _latest_lease_of(db: Store, *, session_id: int, number_id: int, before_ms: int) -> Row:
    row = await db.fetchone(
        "SELECT id AS lease_id, pool_id FROM leases"
        " WHERE session_id = :s AND number_id = :n AND started_ms <= :t"
        " ORDER BY started_ms DESC, id DESC LIMIT 1",
        {"s": session_id, "n": number_id, "t": before_ms},
    )
    return row or {"lease_id": None, "pool_id": None}


def _unique(ids: list[int]) -> list[int]:
    seen: dict[int, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    return list(seen)


async def match_call(
    db: Store, *, tracking_number: str, caller: str, started_ms: int, repeat_days: int = 30
) -> CallMatch:
    """Attribute a call to the dialled number at ``started_ms`` to a session (pure read).

    ``tracking_number`` and ``caller`` are E.164 (national formats of the dialled number
    are tried as Japanese). See the module docstring for the methods.
    """
    number = await _number(db, tracking_number)
    if number is None:
        return CallMatch(None, None, None, "", "", "none")
    number_id = int(number["id"])
    base = CallMatch(
        number_id=number_id,
        site_id=None if number["site_id"] is None else int(number["site_id"]),
        advertiser_id=int(number["advertiser_id"]),
        forward_to=str(number["forward_to"]),
        kind=str(number["kind"]),
        method="none",
        pool_id=None if number["pool_id"] is None else int(number["pool_id"]),
    )
    if number["kind"] == "source":
        return replace(base, method="static_source")

    holders = await _holders(db, number_id=number_id, at_ms=started_ms)
    sessions = _unique([h.session_id for h in holders])
    previous = None
    if base.site_id is not None:
        previous = await _previous_session(
            db,
            caller=caller,
            site_id=base.site_id,
            started_ms=started_ms,
            repeat_days=repeat_days,
        )

    if previous is not None:
        if previous in sessions:
            # The caller's own session holds the number: a plain lease match, and it
            # settles any reuse ambiguity.
            held = next(h for h in holders if h.session_id == previous)
            method = "lease" if len(sessions) == 1 else "repeat_caller"
            return replace(
                base,
                pool_id=held.pool_id,
                method=method,
                session_id=previous,
                lease_id=held.lease_id,
                candidates=_unique([previous, *sessions]),
            )
        own = await _latest_lease_of(
            db, session_id=previous, number_id=number_id, before_ms=started_ms
        )
        if not sessions or own["lease_id"] is not None:
            return replace(
                base,
                method="repeat_caller",
                session_id=previous,
                lease_id=own["lease_id"],
                candidates=_unique([previous, *sessions]),
            )

    if number["kind"] == "overflow" or any(h.overflow for h in holders):
        chosen = holders[0] if len(sessions) == 1 else None
        return replace(
            base,
            method="overflow",
            session_id=None if chosen is None else chosen.session_id,
            lease_id=None if chosen is None else chosen.lease_id,
            candidates=sessions,
        )
    if not holders:
        return base
    # holders are ordered most recently active first.
    chosen = holders[0]
    return replace(
        base,
        pool_id=chosen.pool_id,
        method="lease" if len(sessions) == 1 else "ambiguous",
        session_id=chosen.session_id,
        lease_id=chosen.lease_id,
        candidates=sessions,
    )
