"""Storing calls and their callbacks: idempotent by provider call id, never backwards.

Every provider (Twilio, a PBX, an imported call detail record) is turned into
:class:`CallEvent` values. :func:`record` applies one event in one unit of work:

- the call row is created on the first event that names it, whichever arrives first
  (``INSERT ... ON CONFLICT (provider, provider_call_id) DO NOTHING``), so the same webhook
  twice records one call;
- the status only moves forward (``status_rank``): a late 'ringing' after 'completed'
  changes nothing; the dial's outcome (answered / busy / no-answer / failed / canceled)
  is the last word;
- every event is kept in ``call_events``, once per (call, kind, status): the same event
  again (a provider's retry, a replay of the journal) changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

from attribution.touch import freeze_touch
from backend.telephony import flowsms, journey
from pool.store import Store, Tx

# Twilio's CallStatus of the caller's leg -> (our status, rank).
PARENT_STATUS = {
    "queued": ("ringing", 0),
    "initiated": ("ringing", 0),
    "ringing": ("ringing", 0),
    "in-progress": ("in-progress", 1),
    "completed": ("completed", 2),
    "busy": ("busy", 3),
    "no-answer": ("no-answer", 3),
    "failed": ("failed", 3),
    "canceled": ("canceled", 3),
    # Refused by the advertiser's block list (着信拒否); nothing later changes that.
    "blocked": ("blocked", 4),
}
# The outcome of forwarding to the business (Twilio's DialCallStatus, a PBX's call end).
OUTCOMES = {
    "answered": "answered",
    "completed": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
OUTCOME_RANK = 4
START_KINDS = ("voice", "start", "import")


@dataclass(frozen=True)
class CallEvent:
    """One thing that happened to a call, as any provider reports it.

    ``kind``: 'voice' (Twilio's first webhook), 'status', 'dial', 'recording', 'start' and
    'end' (a PBX), 'import' (a call detail record), 'flow' (a step of its call flow,
    :mod:`backend.telephony.journey`; ``status`` keys the entry). Empty / zero fields mean
    "not said".
    """

    provider: str
    call_id: str
    kind: str
    ts_ms: int
    tracking_number: str = ""
    caller: str = ""
    forwarded_to: str = ""
    started_ms: int = 0
    status: str = ""  # a PARENT_STATUS key or an OUTCOMES key, per kind
    duration_s: int = -1
    talk_s: int = -1
    recording_url: str = ""
    recording_sid: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # The id of the webhook request that reported it: the recorder's write logs under it.
    request_id: str = ""
    # Digits the caller dialled after the number (a visit code, heard by <Gather>).
    digits: str = ""

    def to_json(self) -> bytes:
        """One line of the spool file."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: bytes) -> CallEvent:
        """Read back a line of the spool file (fields a later version added are left out,
        so a spool survives a downgrade)."""
        data = orjson.loads(line)
        if not isinstance(data, dict):
            raise ValueError("a spooled call event is not an object")
        return cls(**{k: v for k, v in data.items() if k in _EVENT_FIELDS})

    def status_and_rank(self) -> tuple[str, int] | None:
        """The status this event sets and its rank, or None when it sets none."""
        if self.kind in ("dial", "end", "import"):
            outcome = OUTCOMES.get(self.status)
            if outcome is None and self.kind in ("end", "import"):
                return ("completed", 2)
            return None if outcome is None else (outcome, OUTCOME_RANK)
        if self.kind in ("status", "voice", "start"):
            return PARENT_STATUS.get(self.status)
        return None


_EVENT_FIELDS = frozenset(f.name for f in fields(CallEvent))


@dataclass(frozen=True)
class Match:
    """What the call is attributed to (see ``attribution.matching.CallMatch``)."""

    method: str = "none"
    number_id: int | None = None
    site_id: int | None = None
    advertiser_id: int | None = None
    session_id: int | None = None
    lease_id: int | None = None
    candidates: int = 0
    # How sure the match is, why, and the sessions considered (m0019; see
    # ``attribution.matching.REASONS``). Stored by :func:`_store_confidence`.
    confidence: str = ""
    reason: str = ""
    candidate_ids: tuple[int, ...] = ()
    # Visit codes (m0022): the digits dialled, what they named ('visit', 'fixed', ''), and
    # a fixed code's source label and campaign (the call's source).
    code_digits: str = ""
    code_kind: str = ""
    code_source: str = ""
    code_campaign: str = ""


@dataclass(frozen=True)
class Recorded:
    """What :func:`record` did."""

    call_id: int
    advertiser_id: int | None
    created: bool  # this event created the call row
    ended: bool  # this event moved the call to an ended status (rank 2 or more)
    rank: int
    match: Match | None


# (db, tracking number, caller, started ms); called with ``digits=`` as well when the
# caller dialled digits after the number (visit codes).
Matcher = Callable[..., Awaitable[Match]]


def _start_of(event: CallEvent) -> int:
    if event.started_ms:
        return event.started_ms
    if event.duration_s > 0:
        return event.ts_ms - event.duration_s * 1000
    return event.ts_ms


async def record(db: Store, event: CallEvent, matcher: Matcher) -> Recorded:
    """Apply one event to its call, creating and matching the call when needed."""
    existing = await db.fetchone(
        "SELECT id, match_method FROM calls WHERE provider = :p AND provider_call_id = :c",
        {"p": event.provider, "c": event.call_id},
    )
    match = None
    wants_match = existing is None or (
        event.kind in START_KINDS and existing["match_method"] == "none"
    )
    if wants_match and event.tracking_number:
        extra = {"digits": event.digits} if event.digits else {}
        match = await matcher(db, event.tracking_number, event.caller, _start_of(event), **extra)
    async with db.write() as tx:
        call_id, created = await _ensure_call(tx, event, match)
        stored = created and match is not None
        if match is not None and not created:
            stored = await _store_match(tx, call_id, match, event.ts_ms)
        if stored:
            assert match is not None
            # Where the match is stored, in its unit of work: later touches never move it.
            await freeze_touch(tx, call_id=call_id, session_id=match.session_id)
            # How sure the match is, why, and the sessions considered (issue #21).
            await _store_confidence(tx, call_id, match)
            await _store_code(tx, call_id, match)
        # One row per (call, kind, status): a replayed webhook or journal line is a no-op.
        fresh = await tx.fetchval(
            "INSERT INTO call_events (call_id, ts_ms, kind, status, payload)"
            " VALUES (:c, :t, :k, :s, :p)"
            " ON CONFLICT (call_id, kind, status) DO NOTHING RETURNING id",
            {
                "c": call_id,
                "t": event.ts_ms,
                "k": event.kind,
                "s": event.status,
                "p": orjson.dumps(event.payload).decode(),
            },
        )
        ended = False if fresh is None else await _apply(tx, call_id, event)
        if fresh is not None and event.kind == "flow":
            await journey.apply(tx, call_id, event)
        if fresh is not None and event.kind == "status" and event.status in flowsms.ENDED:
            await flowsms.call_ended(tx, call_id)  # its flow's texts go now
        row = await tx.fetchone(
            "SELECT advertiser_id, status_rank FROM calls WHERE id = :id", {"id": call_id}
        )
    assert row is not None
    return Recorded(call_id, row["advertiser_id"], created, ended, row["status_rank"], match)


async def _ensure_call(tx: Tx, event: CallEvent, match: Match | None) -> tuple[int, bool]:
    m = match or Match()
    call_id = await tx.fetchval(
        "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id, number_id,"
        " tracking_number, caller, forwarded_to, started_ms, status, status_rank, session_id,"
        " lease_id, match_method, match_candidates, created_ms, updated_ms)"
        " VALUES (:p, :c, :adv, :site, :num, :tn, :caller, :fwd, :start, 'ringing', 0, :sess,"
        " :lease, :method, :cand, :t, :t)"
        " ON CONFLICT (provider, provider_call_id) DO NOTHING RETURNING id",
        {
            "p": event.provider,
            "c": event.call_id,
            "adv": m.advertiser_id,
            "site": m.site_id,
            "num": m.number_id,
            "tn": event.tracking_number,
            "caller": event.caller,
            "fwd": event.forwarded_to,
            "start": _start_of(event),
            "sess": m.session_id,
            "lease": m.lease_id,
            "method": m.method,
            "cand": m.candidates,
            "t": event.ts_ms,
        },
    )
    if call_id is not None:
        return int(call_id), True
    found = await tx.fetchval(
        "SELECT id FROM calls WHERE provider = :p AND provider_call_id = :c",
        {"p": event.provider, "c": event.call_id},
    )
    # A start event knows the call began earlier than a callback that created the row.
    await tx.execute(
        "UPDATE calls SET"
        " started_ms = CASE WHEN :start < started_ms THEN :start ELSE started_ms END,"
        " tracking_number = CASE WHEN tracking_number = '' THEN :tn ELSE tracking_number END,"
        " caller = CASE WHEN caller = '' THEN :caller ELSE caller END,"
        " forwarded_to = CASE WHEN forwarded_to = '' THEN :fwd ELSE forwarded_to END"
        " WHERE id = :id",
        {
            "start": _start_of(event) if event.kind in START_KINDS else 1 << 62,
            "tn": event.tracking_number,
            "caller": event.caller,
            "fwd": event.forwarded_to,
            "id": found,
        },
    )
    return int(found), False


async def _store_match(tx: Tx, call_id: int, m: Match, now: int) -> bool:
    """Fill the match of a call created before it could be matched; never overwrite one.

    True when this stored the match.
    """
    changed = await tx.execute(
        "UPDATE calls SET advertiser_id = COALESCE(advertiser_id, :adv),"
        " site_id = COALESCE(site_id, :site), number_id = COALESCE(number_id, :num),"
        " session_id = :sess, lease_id = :lease, match_method = :method,"
        " match_candidates = :cand, updated_ms = :t"
        " WHERE id = :id AND match_method = 'none'",
        {
            "adv": m.advertiser_id,
            "site": m.site_id,
            "num": m.number_id,
            "sess": m.session_id,
            "lease": m.lease_id,
            "method": m.method,
            "cand": m.candidates,
            "t": now,
            "id": call_id,
        },
    )
    return bool(changed)


async def _store_confidence(tx: Tx, call_id: int, m: Match) -> None:
    """Store the match's confidence, reason and candidate sessions with the match just
    stored (a call whose match was already rated keeps it)."""
    await tx.execute(
        "UPDATE calls SET match_confidence = :conf, match_reason = :why,"
        " match_candidate_ids = :ids"
        " WHERE id = :id AND match_method = :method AND match_confidence = ''",
        {
            "conf": m.confidence,
            "why": m.reason,
            "ids": orjson.dumps(list(m.candidate_ids)).decode(),
            "method": m.method,
            "id": call_id,
        },
    )


async def _store_code(tx: Tx, call_id: int, m: Match) -> None:
    """Keep the digits the caller dialled and what they named; a fixed code (an offline
    medium) is the call's source and campaign."""
    if not m.code_digits:
        return
    await tx.execute(
        "UPDATE calls SET code_digits = :d, code_kind = :k WHERE id = :id",
        {"d": m.code_digits, "k": m.code_kind, "id": call_id},
    )
    if m.code_kind == "fixed":
        await tx.execute(
            "UPDATE calls SET touch_channel = 'offline', touch_medium = 'offline',"
            " touch_source = :src, touch_campaign = :camp WHERE id = :id",
            {"src": m.code_source, "camp": m.code_campaign, "id": call_id},
        )


async def _apply(tx: Tx, call_id: int, event: CallEvent) -> bool:
    """Apply the event's status and numbers; return whether it ended the call just now."""
    ended = False
    status = event.status_and_rank()
    if status is not None:
        name, rank = status
        before = await tx.fetchval("SELECT status_rank FROM calls WHERE id = :id", {"id": call_id})
        # A call flow may ring several times: an answer after a busy or unanswered
        # attempt is the call's outcome (a call without a flow dials once).
        changed = await tx.execute(
            "UPDATE calls SET status = :s, status_rank = :r, updated_ms = :t"
            " WHERE id = :id AND (status_rank < :r OR (:over = 1 AND status_rank = :r"
            " AND status IN ('busy', 'no-answer', 'failed')))",
            {
                "s": name,
                "r": rank,
                "t": event.ts_ms,
                "id": call_id,
                "over": int(name == "answered" and rank == OUTCOME_RANK),
            },
        )
        ended = bool(changed) and rank >= 2 and int(before) < 2
        if rank >= 2:
            await tx.execute(
                "UPDATE calls SET ended_ms = CASE WHEN ended_ms IS NULL OR ended_ms < :t"
                " THEN :t ELSE ended_ms END WHERE id = :id",
                {"t": event.ts_ms, "id": call_id},
            )
    if event.duration_s >= 0:
        await tx.execute(
            "UPDATE calls SET duration_s = CASE WHEN :d > duration_s THEN :d ELSE duration_s END"
            " WHERE id = :id",
            {"d": event.duration_s, "id": call_id},
        )
    if event.talk_s >= 0:
        answered = status is not None and status[0] == "answered"
        # The dial's outcome measures the talk itself: it replaces a stand-in taken from
        # the caller's leg (below), whichever callback arrived first.
        talk = ":d" if event.kind == "dial" else "CASE WHEN :d > talk_s THEN :d ELSE talk_s END"
        await tx.execute(
            f"UPDATE calls SET talk_s = {talk},"
            " answered_ms = CASE WHEN :a = 1 AND answered_ms IS NULL THEN :at"
            " ELSE answered_ms END WHERE id = :id",
            {
                "d": event.talk_s,
                "a": int(answered),
                "at": event.ts_ms - event.talk_s * 1000,
                "id": call_id,
            },
        )
    elif event.kind == "status" and event.status == "completed" and event.duration_s > 0:
        # No dial callback (a flow without <Dial action>, or one lost): the caller's leg's
        # duration is the only talk time there is, so the call can still qualify. Not for
        # a call in a call flow (flow_version set): time in its menu or queue is no talk,
        # and its dials say when someone answered.
        await tx.execute(
            "UPDATE calls SET talk_s = CASE WHEN :d > talk_s THEN :d ELSE talk_s END"
            " WHERE id = :id AND flow_version IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM call_events e WHERE e.call_id = :id AND e.kind = 'dial')",
            {"d": event.duration_s, "id": call_id},
        )
    if event.recording_url:
        await tx.execute(
            "UPDATE calls SET recording_url = :u, recording_sid = :s, updated_ms = :t"
            " WHERE id = :id",
            {"u": event.recording_url, "s": event.recording_sid, "t": event.ts_ms, "id": call_id},
        )
        if event.recording_sid:
            # The fetch of the file into callpath's storage, queued in the same unit of work
            # as the URL (durable); one per recording however often the carrier reports it.
            await tx.execute(
                "INSERT INTO recordings (call_id, kind, source_sid, source_url, next_try_ms,"
                " created_ms) VALUES (:id, 'call', :s, :u, :t, :t)"
                " ON CONFLICT (call_id, kind, source_sid) DO NOTHING",
                {
                    "id": call_id,
                    "s": event.recording_sid,
                    "u": event.recording_url,
                    "t": event.ts_ms,
                },
            )
    return ended
