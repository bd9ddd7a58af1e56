"""Simulated traffic through the real pool and matcher, to size a pool before buying numbers.

Visitors arrive as a Poisson process whose rate follows a daily curve; each stays a while
(heartbeats keep its lease, which idles out ``ttl`` after the last one), some call, after
a delay: during the visit, shortly after leaving, or hours later; some callers call again
days later. Every lease goes through :func:`pool.leases.acquire` / ``heartbeat`` and every
call through :func:`attribution.matching.match_call` on a fresh database, with simulated
time passed in as ``now_ms``, so a simulated day runs in seconds.

Every visitor's would-be call is scored (a probe: ``match_call`` is a pure read), but only
the share who do call are recorded as calls, so repeat-caller matching sees the real call
volume while the shares come from many more calls and are stable from a few days of
traffic. Each call is scored against the truth the simulation knows:

- ``correct``: attributed, unambiguously, to the session that saw the number;
- ``ambiguous``: flagged as such (reuse within grace, several visitors on the overflow);
- ``wrong``: attributed, unambiguously, to another session (what a pool must avoid);
- ``unattributed``: no session (called after the grace window, or the pool was exhausted
  without an overflow number and the visitor saw the business number).

Each attributed call also has the matcher's confidence (``high``, ``medium``, ``low``;
ambiguous calls are ``low``), so the shares are also given per confidence, and a wrong
call that is neither ``low`` nor ambiguous is **unflagged**: what an analyst cannot tell
from a right one, and what a pool and its late-call window must keep rare.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from attribution import codes
from attribution.matching import DEFAULT_LATE_WINDOW_MS, live_window_ms, match_call

# The report is kept in a module of its own; re-exported here for callers of this one.
from attribution.simulate_report import UNFLAGGED_TARGET as UNFLAGGED_TARGET
from attribution.simulate_report import report as report
from attribution.touch import freeze_touch
from pool import leases, numbers
from pool.store import Store

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z; any day works, time is simulated

# Share of a day's visitors arriving in each local hour: a Japanese local business
# (quiet at night, a morning rise, lunch and evening peaks).
DAILY_CURVE = (
    0.8, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.2, 3.8, 5.2, 6.0, 6.2,
    6.4, 6.0, 5.6, 5.4, 5.4, 5.6, 6.0, 6.4, 6.6, 5.8, 4.2, 2.0,
)  # fmt: skip

OUTCOMES = ("correct", "ambiguous", "wrong", "unattributed")
# The confidences an attributed call is counted under ('' for calls without a session).
LEVELS = ("exact", "high", "medium", "low", "")

DatabaseFactory = Callable[[], AbstractAsyncContextManager[Store]]


@dataclass(frozen=True)
class Traffic:
    """What the site's traffic looks like."""

    visitors_per_day: float = 400.0
    days: int = 3
    curve: tuple[float, ...] = DAILY_CURVE
    visit_minutes: float = 4.0  # mean time on site
    call_share: float = 0.04  # share of visitors who call
    call_during_visit: float = 0.55  # of callers: while the page is open
    call_soon_after: float = 0.35  # of callers: shortly after leaving ...
    soon_after_minutes: float = 6.0  # ... after this mean delay
    late_hours: float = 3.0  # the rest: hours later, this mean delay
    repeat_share: float = 0.2  # of callers: call again 1-7 days later
    seed: int = 7
    # Tap-to-call (visit codes, issue #21). Drawn from a random stream of their own, so the
    # traffic above is the same whatever these say.
    tap_share: float = 0.0  # of visitors: call by tapping the page's tel: link
    code_adoption: float = 1.0  # of tapped calls: the phone sends the link's code
    redial_share: float = 0.0  # of callers: call again from the phone's call history ...
    redial_min_hours: float = 1.0  # ... between this many hours later
    redial_max_hours: float = 72.0  # ... and this many (log-uniform: hours and days)


@dataclass(frozen=True)
class PoolShape:
    """How the pool behaves (the server's lease settings)."""

    ttl_ms: int = 30 * MIN_MS
    grace_ms: int = 10 * MIN_MS
    cooldown_ms: int = 15 * MIN_MS
    heartbeat_ms: int = MIN_MS
    overflow: bool = True
    late_window_ms: int = DEFAULT_LATE_WINDOW_MS  # the matcher's late-call window
    codes: bool = False  # visit codes on: tapped calls carry the visit's code
    code_life_ms: int = 30 * DAY_MS  # how long a code names its visit


@dataclass
class Visitor:
    """One simulated visitor and what it did."""

    index: int
    arrive_ms: int
    leave_ms: int
    probe_ms: int = 0  # when this visitor would call
    calls_ms: list[int] = field(default_factory=list)  # the calls it does make
    session_id: int = 0
    number: str = ""  # what the page showed: a tracking number, or '' (business number)
    lease_id: int = 0
    tapped: bool = False  # calls by tapping the tel: link (and redials from the history)
    sends_code: bool = False  # the phone dials the link's post-dial digits
    code: str = ""  # the visit's code (codes on, a pool number shown)
    redials_ms: list[int] = field(default_factory=list)  # calls from the call history


@dataclass
class Result:
    """Shares of outcomes for one pool size."""

    pool_size: int
    calls: int = 0  # calls scored: every visitor's would-be call, and repeat calls
    recorded: int = 0  # calls that were made (and stored, for repeat-caller matching)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    # (outcome, confidence) -> calls; the confidence is '' for calls without a session.
    by_confidence: dict[tuple[str, str], int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)
    visitors: int = 0
    overflowed: int = 0
    # Outcomes of tapped calls (tel: link, or a redial of one from the call history), and
    # of those redials made a day or more after the first call.
    tapped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    redials_day: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def tapped_share(self, outcome: str, *, day_redials: bool = False) -> float:
        """Share of tapped calls (or of their redials a day or more later) with this
        outcome (0 without such calls)."""
        counts = self.redials_day if day_redials else self.tapped
        total = sum(counts.values())
        return counts[outcome] / total if total else 0.0

    def share(self, outcome: str, *confidences: str) -> float:
        """Share of calls with this outcome (0 when there were no calls); with
        ``confidences``, only those matched with one of them."""
        if not self.calls:
            return 0.0
        if not confidences:
            return self.counts[outcome] / self.calls
        n = sum(self.by_confidence.get((outcome, c), 0) for c in confidences)
        return n / self.calls

    def unflagged_wrong(self) -> float:
        """Share of calls given to the wrong visit with neither a ``low`` confidence nor an
        ambiguous flag: the errors nobody can see."""
        return self.share("wrong", "exact", "high", "medium")


def _poisson_times(rng: random.Random, rate_per_ms: float, start: int, end: int) -> list[int]:
    times, t = [], float(start)
    while rate_per_ms > 0:
        t += rng.expovariate(rate_per_ms)
        if t >= end:
            break
        times.append(int(t))
    return times


def generate(traffic: Traffic) -> list[Visitor]:
    """The visitors of the simulated period, reproducible from ``traffic.seed``."""
    rng = random.Random(traffic.seed)
    taps = random.Random(traffic.seed * 7919 + 1)  # tap-to-call draws: their own stream
    weights = sum(traffic.curve) or 1.0
    visitors: list[Visitor] = []
    for day in range(traffic.days):
        for hour, weight in enumerate(traffic.curve):
            start = T0 + day * DAY_MS + hour * HOUR_MS
            rate = traffic.visitors_per_day * weight / weights / HOUR_MS
            for arrive in _poisson_times(rng, rate, start, start + HOUR_MS):
                stay = max(10_000, int(rng.expovariate(1 / (traffic.visit_minutes * MIN_MS))))
                v = Visitor(len(visitors), arrive, arrive + stay)
                v.probe_ms = _call_time(rng, traffic, v)
                if rng.random() < traffic.call_share:
                    v.calls_ms.append(v.probe_ms)
                    if rng.random() < traffic.repeat_share:
                        v.calls_ms.append(v.calls_ms[0] + int(rng.uniform(1, 7) * DAY_MS))
                _tap(taps, traffic, v)
                visitors.append(v)
    return visitors


def _tap(rng: random.Random, traffic: Traffic, v: Visitor) -> None:
    """Whether the visitor taps to call, its phone sends the code, and when it redials."""
    v.tapped = rng.random() < traffic.tap_share
    v.sends_code = v.tapped and rng.random() < traffic.code_adoption
    # Every visitor's would-be redial is scored (as its would-be call is); only a caller's
    # is made.
    if rng.random() < traffic.redial_share:
        low, high = math.log(traffic.redial_min_hours), math.log(traffic.redial_max_hours)
        hours = math.exp(rng.uniform(low, high))
        v.redials_ms.append(v.probe_ms + int(hours * HOUR_MS))


def _call_time(rng: random.Random, traffic: Traffic, v: Visitor) -> int:
    roll = rng.random()
    if roll < traffic.call_during_visit:
        return int(rng.uniform(v.arrive_ms, v.leave_ms))
    if roll < traffic.call_during_visit + traffic.call_soon_after:
        return v.leave_ms + int(rng.expovariate(1 / (traffic.soon_after_minutes * MIN_MS)))
    return v.leave_ms + int(rng.expovariate(1 / (traffic.late_hours * HOUR_MS)))


def peak_demand(visitors: list[Visitor], shape: PoolShape) -> int:
    """Most numbers ever busy at once (leased, idling out or resting) with an endless pool."""
    edges: list[tuple[int, int]] = []
    for v in visitors:
        edges.append((v.arrive_ms, 1))
        edges.append((v.leave_ms + shape.ttl_ms + shape.cooldown_ms, -1))
    edges.sort()
    busy = peak = 0
    for _, step in edges:
        busy += step
        peak = max(peak, busy)
    return peak


async def _setup(db: Store, pool_size: int, shape: PoolShape) -> tuple[int, int]:
    async with db.write() as tx:
        adv = await tx.fetchval(
            "INSERT INTO advertisers (name, created_ms) VALUES ('simulated', :t) RETURNING id",
            {"t": T0},
        )
        site = await tx.fetchval(
            "INSERT INTO sites (advertiser_id, site_key, name, created_ms)"
            " VALUES (:a, 'simulated', 'simulated', :t) RETURNING id",
            {"a": adv, "t": T0},
        )
        target = await tx.fetchval(
            "INSERT INTO targets (site_id, number, created_ms) VALUES (:s, '+81312345678', :t)"
            " RETURNING id",
            {"s": site, "t": T0},
        )
        pool = await numbers.create_pool(
            tx,
            site_id=site,
            target_id=target,
            name="simulated",
            ttl_ms=shape.ttl_ms,
            grace_ms=shape.grace_ms,
            cooldown_ms=shape.cooldown_ms,
            now_ms=T0,
        )
        kinds = ["pool"] * pool_size + (["overflow"] if shape.overflow else [])
        for i, kind in enumerate(kinds):
            await numbers.add_number(
                tx,
                advertiser_id=adv,
                number=f"+815017{i + 1:06d}",
                forward_to="+81312345678",
                kind=kind,
                site_id=site,
                pool_id=pool,
                now_ms=T0,
            )
    return int(site), int(pool)


async def run(
    db: Store, visitors: list[Visitor], *, pool_size: int, shape: PoolShape = PoolShape()
) -> Result:
    """Drive ``visitors`` through a fresh pool of ``pool_size`` numbers on ``db``."""
    site_id, pool_id = await _setup(db, pool_size, shape)
    result = Result(pool_size, visitors=len(visitors))
    # Events in time order: (time, order, kind, visitor index). Arrivals first on ties.
    events: list[tuple[int, int, str, int]] = []
    for v in visitors:
        heapq.heappush(events, (v.arrive_ms, 0, "arrive", v.index))
    while events:
        t, _, kind, i = heapq.heappop(events)
        v = visitors[i]
        if kind == "arrive":
            await _arrive(db, v, site_id, pool_id, result, shape)
            # The page beats every heartbeat interval while open (the matcher reads from
            # the last beat whether the page was open when the phone rang), and once more
            # as the visitor leaves.
            step = shape.heartbeat_ms
            beat = v.arrive_ms + step
            while v.lease_id and beat < v.leave_ms:
                heapq.heappush(events, (beat, 1, "beat", i))
                beat += step
            if v.lease_id:
                heapq.heappush(events, (v.leave_ms, 1, "beat", i))
            for call_ms in v.calls_ms:
                heapq.heappush(events, (call_ms, 2, "call", i))
            for call_ms in v.redials_ms:
                heapq.heappush(events, (call_ms, 2, "redial" if v.calls_ms else "rprobe", i))
            if not v.calls_ms:
                heapq.heappush(events, (v.probe_ms, 2, "probe", i))
        elif kind == "beat":
            await leases.heartbeat(db, lease_id=v.lease_id, now_ms=t)
        else:
            await _call(
                db,
                v,
                t,
                site_id,
                result,
                shape,
                record=kind in ("call", "redial"),
                redial=kind in ("redial", "rprobe"),
            )
    return result


async def _arrive(
    db: Store, v: Visitor, site_id: int, pool_id: int, result: Result, shape: PoolShape
) -> None:
    async with db.write() as tx:
        v.session_id = int(
            await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms) VALUES (:s, :t, :t)"
                " RETURNING id",
                {"s": site_id, "t": v.arrive_ms},
            )
        )
    lease = await leases.acquire(db, pool_id=pool_id, session_id=v.session_id, now_ms=v.arrive_ms)
    if lease is not None:
        v.number, v.lease_id = lease.number, lease.lease_id
        result.overflowed += int(lease.overflow)
        if shape.codes:
            # Issued as the ingest pipeline issues it with the session's number.
            async with db.write() as tx:
                v.code = await codes.code_for_session(
                    tx,
                    site_id=site_id,
                    session_id=v.session_id,
                    now_ms=v.arrive_ms,
                    window_ms=max(shape.late_window_ms, HOUR_MS),
                    life_ms=shape.code_life_ms,
                    number_id=lease.number_id,
                )


async def _call(
    db: Store,
    v: Visitor,
    t: int,
    site_id: int,
    result: Result,
    shape: PoolShape,
    *,
    record: bool,
    redial: bool = False,
) -> None:
    caller = f"+8190{v.index:08d}"
    day_redial = redial and t - v.probe_ms >= DAY_MS
    result.calls += 1
    result.recorded += int(record)
    if not v.number:
        # The page kept the business number: nothing links the call to the visit.
        result.counts["unattributed"] += 1
        key = ("unattributed", "")
        result.by_confidence[key] = result.by_confidence.get(key, 0) + 1
        result.methods["business_number"] = result.methods.get("business_number", 0) + 1
        _count_tapped(result, v, "unattributed", day_redial)
        return
    m = await match_call(
        db,
        tracking_number=v.number,
        caller=caller,
        started_ms=t,
        late_window_ms=shape.late_window_ms,
        live_window_ms=live_window_ms(shape.heartbeat_ms),
        digits=v.code if v.sends_code else "",
        code_life_ms=shape.code_life_ms,
    )
    result.methods[m.method] = result.methods.get(m.method, 0) + 1
    if m.method == "ambiguous" or (m.method == "overflow" and len(m.candidates) > 1):
        outcome = "ambiguous"
    elif m.session_id is None:
        outcome = "unattributed"
    elif m.session_id == v.session_id:
        outcome = "correct"
    else:
        outcome = "wrong"
    result.counts[outcome] += 1
    _count_tapped(result, v, outcome, day_redial)
    level = m.confidence if outcome != "ambiguous" else (m.confidence or "low")
    result.by_confidence[(outcome, level)] = result.by_confidence.get((outcome, level), 0) + 1
    if not record:
        return
    # Recorded as telephony would, so later calls can be recognised as repeat calls.
    async with db.write() as tx:
        call_id = await tx.fetchval(
            "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id, number_id,"
            " tracking_number, caller, started_ms, session_id, lease_id, match_method,"
            " match_candidates, match_confidence, match_reason, match_candidate_ids, created_ms,"
            " updated_ms) VALUES ('simulated', :pid, :a, :s, :n, :num, :c, :t, :sess, :lease,"
            " :m, :k, :conf, :why, :ids, :t, :t) RETURNING id",
            {
                "pid": f"SIM{result.calls}",
                "a": m.advertiser_id,
                "s": site_id,
                "n": m.number_id,
                "num": v.number,
                "c": caller,
                "t": t,
                "sess": m.session_id,
                "lease": m.lease_id,
                "m": m.method,
                "k": len(m.candidates),
                "conf": m.confidence,
                "why": m.reason,
                "ids": json.dumps(m.candidates),
            },
        )
        await freeze_touch(tx, call_id=int(call_id), session_id=m.session_id)


def _count_tapped(result: Result, v: Visitor, outcome: str, day_redial: bool) -> None:
    if v.tapped:
        result.tapped[outcome] += 1
        if day_redial:
            result.redials_day[outcome] += 1


@dataclass
class Recommendation:
    """The sweep over pool sizes and its conclusion."""

    traffic: Traffic
    shape: PoolShape
    visitors: int
    peak: int
    recommended: int
    rule_of_thumb: int
    target: float
    results: dict[int, Result]


def rule_of_thumb(visitors_per_day: float) -> int:
    """The common sizing rule: one number per 20 daily visitors."""
    return max(1, math.ceil(visitors_per_day / 20))


async def recommend(
    traffic: Traffic,
    database: DatabaseFactory,
    *,
    shape: PoolShape = PoolShape(),
    target: float = 0.95,
    extra_sizes: list[int] | None = None,
) -> Recommendation:
    """Find the smallest pool whose correct share reaches ``target``.

    When no pool can reach it (calls too late for any grace window), the bar is one point
    below what a pool that never runs out achieves. Each size runs on a fresh database;
    ``extra_sizes`` are measured too (half of another run's recommendation, say).
    """
    visitors = generate(traffic)
    peak = max(1, peak_demand(visitors, shape))
    results: dict[int, Result] = {}

    async def measure(size: int) -> Result:
        if size not in results:
            async with database() as db:
                results[size] = await run(db, visitors, pool_size=size, shape=shape)
        return results[size]

    ceiling = (await measure(peak)).share("correct")
    bar = min(target, ceiling - 0.01)
    low, high = 1, peak  # the answer lies in [low, high]; `high` always passes
    while low < high:
        mid = (low + high) // 2
        if (await measure(mid)).share("correct") >= bar:
            high = mid
        else:
            low = mid + 1
    thumb = rule_of_thumb(traffic.visitors_per_day)
    for size in {high, max(1, high // 2), thumb, *(extra_sizes or [])}:
        await measure(size)
    return Recommendation(traffic, shape, len(visitors), peak, high, thumb, bar, results)
