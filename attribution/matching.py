"""Matching a call to the session that saw the dialled number, and how sure that is.

The dialled number and the call's start time give the leases that held the number then:
live at that moment, or ended within the pool's grace window before it (a visitor who
closes the tab and calls straight away is still matched). How each call was matched is
part of the answer, never guessed silently:

- ``lease``: exactly one session held the number.
- ``repeat_caller``: the caller's latest earlier call on the same site (within
  ``repeat_days``) was matched with confidence ``high`` or ``exact``, and its session once
  held this number (or nobody holds it now). This wins over a newer stranger's lease on a
  reused number: the caller kept the number from their own visit. A match that was not
  confident is never followed: one error must not become several.
- ``ambiguous``: several sessions held the number (reuse within the grace window); all are
  kept as candidates and the most recently active one is chosen.
- ``overflow``: the number is the pool's overflow number, shared by sessions that found the
  pool exhausted. One candidate is chosen; with several none is (a guess among many would
  be silently wrong), but all are kept.
- ``code``: the caller dialled a visit code naming the session (exact whoever holds the
  number now); codes are issued by a later part of the system, the matcher takes the
  session a code named.
- ``static_source``: a source-level number (one per medium: a flyer, a listing); the
  number itself is the attribution.
- ``none``: nobody held the number, or the number is unknown.

Every match with a session has a **confidence** and the **reason** that decided it
(:data:`REASONS`); the rules are in docs/attribution.md. In short: the holder's page still
sending heartbeats when the phone rang is ``high``; a live lease whose page went quiet, or
a lease in its grace window, is ``medium``; another session that let the number go within
the late-call window (it may be calling late, from the page it kept or its phone's call
history), several holders, or an earlier call of the caller that was not confidently
matched to this session make it ``low``, with every such session kept as a candidate.
The caller's earlier confident call decides over all of that.

Pure read: the caller (telephony) stores the result on the call row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from attribution import codes
from pool import leases
from pool.leases import LeaseRecord
from pool.numbers import NumberError, to_e164
from pool.store import Row, Store

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 86_400_000

METHODS = ("lease", "repeat_caller", "ambiguous", "overflow", "code", "static_source", "none")

# Best first. '' (no confidence) is for calls without a session, or stored before m0019.
CONFIDENCES = ("exact", "high", "medium", "low")
# What a repeat call may follow: anything less would copy a possible error.
CONFIDENT = ("exact", "high")

# The evidence behind a match (``CallMatch.reason``).
REASONS = {
    "code": "the caller dialled the visit's code",
    "fixed_code": "the caller dialled a fixed code given to an offline medium",
    "caller_before": "the caller's earlier confident call went to this session",
    "caller_before_other_number": (
        "the caller's earlier confident call went to this session, which held another"
        " number; nobody holds this one"
    ),
    "page_open": "the holder's page was sending heartbeats when the phone rang",
    "page_closed": "the holder's lease was live but its page had stopped sending heartbeats",
    "grace": "the holder's lease had ended; the call came within the grace window",
    "late_call_window": "another session let the number go within the late-call window",
    "page_closed_late_call": (
        "the holder's page had closed, and another session let the number go within twice"
        " the late-call window"
    ),
    "caller_before_uncertain": (
        "the caller's earlier call was not confidently matched, and not to this session alone"
    ),
    "several_holders": "several sessions held the number",
    "no_holder": "nobody held the number at the call or within the grace window",
}

# Defaults; the server passes its settings (late_call_window_seconds, heartbeat_seconds).
DEFAULT_LATE_WINDOW_MS = 2 * HOUR_MS
DEFAULT_LIVE_WINDOW_MS = 2 * MIN_MS + 5_000


def live_window_ms(heartbeat_ms: int) -> int:
    """How old a page's last heartbeat may be for the page to count as still open: one
    missed beat, plus a few seconds for the request in flight."""
    return 2 * heartbeat_ms + 5_000


def at_least(confidence: str) -> tuple[str, ...]:
    """The confidences at ``confidence`` or better (ValueError for an unknown one)."""
    return CONFIDENCES[: CONFIDENCES.index(confidence) + 1]


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
    """Where a call came from: the number's facts, the session it is attributed to, how
    sure that is (``confidence``, ``reason``) and every session considered."""

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
    confidence: str = ""
    reason: str = ""
    # Digits the caller dialled after the number (visit codes), and what they named:
    # 'visit', 'fixed' (an offline medium's code: its source label and campaign) or ''.
    code_digits: str = ""
    code_kind: str = ""
    code_source: str = ""
    code_campaign: str = ""


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


@dataclass(frozen=True)
class _Earlier:
    """The caller's latest earlier call on the site that named a session."""

    session_id: int | None
    confident: bool
    candidates: list[int]


async def _earlier_call(
    db: Store, *, caller: str, site_id: int, started_ms: int, repeat_days: int
) -> _Earlier | None:
    """The caller's latest earlier call on the site with a session or candidates."""
    if repeat_days <= 0 or not is_identified_caller(caller):
        return None
    row = await db.fetchone(
        "SELECT session_id, match_confidence, match_candidate_ids FROM calls"
        " WHERE site_id = :s AND caller = :c AND started_ms < :t AND started_ms >= :since"
        "   AND (session_id IS NOT NULL OR match_candidates > 0)"
        " ORDER BY started_ms DESC, id DESC LIMIT 1",
        {
            "s": site_id,
            "c": caller.strip(),
            "t": started_ms,
            "since": started_ms - repeat_days * DAY_MS,
        },
    )
    if row is None:
        return None
    session = None if row["session_id"] is None else int(row["session_id"])
    try:
        ids = [int(i) for i in json.loads(row["match_candidate_ids"] or "[]")]
    except (ValueError, TypeError):
        ids = []
    confident = session is not None and row["match_confidence"] in CONFIDENT
    return _Earlier(session, confident, _unique(([] if session is None else [session]) + ids))


def _end(lease: LeaseRecord) -> int:
    """When a lease ended (a live lease past its expiry ended then), or will."""
    if lease.ended_ms is not None and lease.ended_ms < lease.expires_ms:
        return lease.ended_ms
    return lease.expires_ms


def _rate(
    holder: LeaseRecord, at_ms: int, live_ms: int, late: list[int], before: list[int]
) -> tuple[str, str, list[int]]:
    """Confidence, reason and the sessions that cast doubt, for a call given to the
    number's only holder. ``late``: others who let the number go within the late-call
    window; ``before``: within twice that window (but not the window itself)."""
    if late:
        return "low", "late_call_window", late
    if _end(holder) > at_ms and holder.last_seen_ms >= at_ms - live_ms:
        return "high", "page_open", []
    # A page already closed is weaker evidence than an open one: the caller may as well be
    # someone who let the number go a while longer ago.
    if before:
        return "low", "page_closed_late_call", before
    return "medium", "grace" if _end(holder) <= at_ms else "page_closed", []


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
    db: Store,
    *,
    tracking_number: str,
    caller: str,
    started_ms: int,
    repeat_days: int = 30,
    late_window_ms: int = DEFAULT_LATE_WINDOW_MS,
    live_window_ms: int = DEFAULT_LIVE_WINDOW_MS,
    code_session_id: int | None = None,
    digits: str = "",
    code_life_ms: int = 30 * DAY_MS,
) -> CallMatch:
    """Attribute a call to the dialled number at ``started_ms`` to a session (pure read).

    ``tracking_number`` and ``caller`` are E.164 (national formats of the dialled number
    are tried as Japanese). ``late_window_ms``: how long after letting a number go a
    previous holder still counts as a candidate; ``live_window_ms``: how old a page's last
    heartbeat may be for the page to count as open. ``code_session_id``: the session a
    visit code dialled by the caller named, if any. ``digits``: what the caller dialled
    after the number (visit codes, :mod:`attribution.codes`; looked up among the codes of
    the last ``code_life_ms``): a code names the visit (method ``code``, ``exact``), a
    fixed code the medium; digits that name nothing are kept on the match, which goes on
    as for an ordinary call. See the module docstring.
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
    digits = digits if codes.DIGITS.match(digits) else ""
    base = replace(base, code_digits=digits)
    named = None
    if digits and code_session_id is None:
        named = await codes.resolve(
            db,
            number_id=number_id,
            site_id=base.site_id,
            digits=digits,
            at_ms=started_ms,
            life_ms=code_life_ms,
        )
    if named is not None and named.kind == "fixed":
        return replace(
            base,
            method="code",
            confidence="exact",
            reason="fixed_code",
            code_kind="fixed",
            code_source=named.source_label,
            code_campaign=named.campaign,
        )
    if named is not None:
        code_session_id = named.session_id
        base = replace(base, code_kind="visit")
    if number["kind"] == "source":
        return replace(base, method="static_source")

    holders = await _holders(db, number_id=number_id, at_ms=started_ms)
    sessions = _unique([h.session_id for h in holders])
    # Twice the window: a holder whose page had closed is doubted from further back.
    released = await leases.released_within(
        db, number_id=number_id, at_ms=started_ms, window_ms=2 * late_window_ms
    )
    within = started_ms - late_window_ms
    recent = _unique([r.session_id for r in released if _end(r) >= within])
    recent = [s for s in recent if s not in sessions]
    before = _unique([r.session_id for r in released if _end(r) < within])
    before = [s for s in before if s not in sessions and s not in recent]

    if code_session_id is not None:
        own = await _latest_lease_of(
            db, session_id=code_session_id, number_id=number_id, before_ms=started_ms
        )
        return replace(
            base,
            method="code",
            session_id=code_session_id,
            lease_id=own["lease_id"],
            pool_id=own["pool_id"] or base.pool_id,
            candidates=_unique([code_session_id, *sessions]),
            confidence="exact",
            reason="code",
            code_kind="visit",
        )

    earlier = None
    if base.site_id is not None:
        earlier = await _earlier_call(
            db,
            caller=caller,
            site_id=base.site_id,
            started_ms=started_ms,
            repeat_days=repeat_days,
        )
    previous = earlier.session_id if earlier is not None and earlier.confident else None

    if previous is not None:
        if previous in sessions:
            # The caller's own session holds the number: it settles any reuse ambiguity
            # and any late caller of a previous holder.
            held = next(h for h in holders if h.session_id == previous)
            return replace(
                base,
                pool_id=held.pool_id,
                method="lease" if len(sessions) == 1 else "repeat_caller",
                session_id=previous,
                lease_id=held.lease_id,
                candidates=_unique([previous, *sessions, *recent]),
                confidence="high",
                reason="caller_before",
            )
        own = await _latest_lease_of(
            db, session_id=previous, number_id=number_id, before_ms=started_ms
        )
        if not sessions or own["lease_id"] is not None:
            held_it = own["lease_id"] is not None
            return replace(
                base,
                method="repeat_caller",
                session_id=previous,
                lease_id=own["lease_id"],
                candidates=_unique([previous, *sessions, *recent]),
                confidence="high" if held_it else "medium",
                reason="caller_before" if held_it else "caller_before_other_number",
            )

    match = _by_holders(base, holders, sessions, recent, before, started_ms, live_window_ms)
    if earlier is not None and not earlier.confident:
        # An earlier call of this caller that was not confident never decides a later one,
        # but its sessions stay candidates, and it casts doubt on anyone else.
        doubt = [s for s in earlier.candidates if s != match.session_id]
        match = replace(match, candidates=_unique([*match.candidates, *earlier.candidates]))
        if doubt and match.confidence in ("high", "medium"):
            match = replace(match, confidence="low", reason="caller_before_uncertain")
    return match


def _by_holders(
    base: CallMatch,
    holders: list[LeaseRecord],
    sessions: list[int],
    recent: list[int],
    before: list[int],
    at_ms: int,
    live_ms: int,
) -> CallMatch:
    """The match the number's holders give (no earlier call of the caller decides it)."""
    if base.kind == "overflow" or any(h.overflow for h in holders):
        if len(sessions) == 1:
            level, why, doubted = _rate(holders[0], at_ms, live_ms, recent, before)
            return replace(
                base,
                method="overflow",
                session_id=holders[0].session_id,
                lease_id=holders[0].lease_id,
                candidates=_unique([*sessions, *recent, *doubted]),
                confidence=level,
                reason=why,
            )
        return replace(
            base,
            method="overflow",
            candidates=_unique([*sessions, *recent]),
            reason="several_holders" if sessions else "no_holder",
        )
    if not holders:
        return replace(base, candidates=recent, reason="no_holder")
    # holders are ordered most recently active first.
    chosen = holders[0]
    doubt: list[int] = []
    if len(sessions) > 1:
        confidence, reason = "low", "several_holders"
    else:
        confidence, reason, doubt = _rate(chosen, at_ms, live_ms, recent, before)
    return replace(
        base,
        pool_id=chosen.pool_id,
        method="lease" if len(sessions) == 1 else "ambiguous",
        session_id=chosen.session_id,
        lease_id=chosen.lease_id,
        candidates=_unique([*sessions, *recent, *doubt]),
        confidence=confidence,
        reason=reason,
    )
