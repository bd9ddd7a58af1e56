"""A confidence and the candidates on every match (issue #21), over the real pool."""

from __future__ import annotations

import pytest

from attribution.matching import CONFIDENCES, DAY_MS, at_least, match_call
from pool import leases
from pool.store import Store
from tests.attribution.conftest import MIN, T0, World, build_world, reused_number

CALLER = "+819012345678"
OTHER = "+819087654321"


async def test_the_holders_page_decides_high_or_medium(world: World) -> None:
    a = await world.session(T0)
    lease = await world.lease(a, T0)
    await leases.heartbeat(world.db, lease_id=lease.lease_id, now_ms=T0 + 4 * MIN)

    async def at(t: int) -> tuple[str, str, str]:
        m = await match_call(world.db, tracking_number=lease.number, caller=CALLER, started_ms=t)
        assert m.session_id == a and m.candidates == [a]
        return m.method, m.confidence, m.reason

    # Beating a minute ago: the page is open.
    assert await at(T0 + 5 * MIN) == ("lease", "high", "page_open")
    # Quiet for ten minutes, lease still live (ttl 30 min): the visitor has left the page.
    assert await at(T0 + 14 * MIN) == ("lease", "medium", "page_closed")
    # Lease idled out at T0 + 34 min; grace is 10 min.
    assert await at(T0 + 40 * MIN) == ("lease", "medium", "grace")


async def test_a_previous_holder_within_the_late_window_makes_it_low(db: Store) -> None:
    _w, a, b, _la, lb = await reused_number(db)
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 41 * MIN)
    # Not silently b's: a let the number go 31 minutes ago and may be calling late.
    assert (m.method, m.session_id, m.lease_id) == ("lease", b, lb.lease_id)
    assert (m.confidence, m.reason) == ("low", "late_call_window")
    assert m.candidates == [b, a]
    # With a late-call window shorter than that, b's open page decides.
    m = await match_call(
        db,
        tracking_number=lb.number,
        caller=CALLER,
        started_ms=T0 + 41 * MIN,
        late_window_ms=20 * MIN,
    )
    assert (m.session_id, m.confidence, m.reason, m.candidates) == (b, "high", "page_open", [b])


async def test_a_closed_page_is_doubted_from_twice_the_window(db: Store) -> None:
    """A holder whose page has closed is weaker evidence than an open page: another session
    that let the number go within twice the late-call window makes the call low."""
    # a let go at T0 + 10 min; b holds it from T0 + 40 min
    _w, a, b, _la, lb = await reused_number(db)

    async def at(t: int) -> tuple[str, str, list[int]]:
        m = await match_call(
            db, tracking_number=lb.number, caller=CALLER, started_ms=t, late_window_ms=30 * MIN
        )
        assert m.session_id == b
        return m.confidence, m.reason, m.candidates

    # a let go 31 minutes ago: outside the window, and b's page is open.
    assert await at(T0 + 41 * MIN) == ("high", "page_open", [b])
    # b's page went quiet; a let go 40 minutes ago, within twice the window.
    assert await at(T0 + 50 * MIN) == ("low", "page_closed_late_call", [b, a])
    # a let go 65 minutes ago, beyond twice the window: b's lease (idled out at T0 + 70 min)
    # is in its grace window, and that alone speaks.
    assert await at(T0 + 75 * MIN) == ("medium", "grace", [b])


async def test_the_callers_confident_earlier_call_decides_the_late_window(db: Store) -> None:
    w, a, b, _la, lb = await reused_number(db)
    # CALLER called during a's visit (a confident match); OTHER called b's page before.
    await w.call(lb.number, CALLER, T0 + 5 * MIN, session_id=a, confidence="high")
    await w.call(lb.number, OTHER, T0 + 41 * MIN, session_id=b, confidence="high")
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 42 * MIN)
    assert (m.method, m.session_id, m.confidence, m.reason) == (
        "repeat_caller",
        a,
        "high",
        "caller_before",
    )
    assert sorted(m.candidates) == sorted([a, b])
    m = await match_call(db, tracking_number=lb.number, caller=OTHER, started_ms=T0 + 43 * MIN)
    assert (m.method, m.session_id, m.confidence, m.reason) == ("lease", b, "high", "caller_before")


async def test_a_repeat_call_never_inherits_a_match_that_was_not_confident(db: Store) -> None:
    w, a, b, _la, lb = await reused_number(db)
    # The first call was given to b with confidence low (a was a candidate).
    await w.call(
        lb.number, CALLER, T0 + 41 * MIN, session_id=b, confidence="low", candidates=[b, a]
    )
    await leases.release(db, lease_id=lb.lease_id, now_ms=T0 + 50 * MIN)
    # Days later nobody holds the number: no repeat_caller match to b, only candidates.
    later = T0 + 3 * DAY_MS
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=later)
    assert (m.method, m.session_id, m.confidence) == ("none", None, "")
    assert sorted(m.candidates) == sorted([a, b])
    # Someone new holds it with the page open: theirs, but low, with the earlier candidates.
    c = await w.session(later)
    lc = await w.lease(c, later)
    assert lc.number == lb.number
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=later + MIN)
    assert (m.method, m.session_id) == ("lease", c)
    assert (m.confidence, m.reason) == ("low", "caller_before_uncertain")
    assert sorted(m.candidates) == sorted([a, b, c])
    # The same earlier call, had it been confident, would have been followed.
    await w.call(lb.number, OTHER, T0 + 42 * MIN, session_id=b, confidence="high")
    m = await match_call(db, tracking_number=lb.number, caller=OTHER, started_ms=later + MIN)
    assert (m.method, m.session_id, m.confidence) == ("repeat_caller", b, "high")


async def test_several_holders_are_ambiguous_and_low(db: Store) -> None:
    _w, _a, b, la, _lb = await reused_number(
        db, released_ms=T0 + 5 * MIN, second_ms=T0 + 8 * MIN, cooldown_ms=2 * MIN
    )
    m = await match_call(db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 9 * MIN)
    assert (m.method, m.session_id, m.confidence, m.reason) == (
        "ambiguous",
        b,
        "low",
        "several_holders",
    )


async def test_overflow_number_confidence(db: Store) -> None:
    w = await build_world(db, pool_size=1, overflow=True)
    a, b, c = [await w.session(T0 + i * MIN) for i in range(3)]
    await w.lease(a, T0)
    lb = await w.lease(b, T0 + MIN)
    assert lb.overflow
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 90_000)
    assert (m.method, m.session_id, m.confidence, m.reason) == (
        "overflow",
        b,
        "high",
        "page_open",
    )
    await w.lease(c, T0 + 2 * MIN)
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 3 * MIN)
    assert (m.method, m.session_id, m.confidence, m.reason) == (
        "overflow",
        None,
        "",
        "several_holders",
    )


async def test_a_visit_code_names_the_session_exactly(db: Store) -> None:
    _w, a, _b, _la, lb = await reused_number(db)
    m = await match_call(
        db,
        tracking_number=lb.number,
        caller=CALLER,
        started_ms=T0 + 2 * DAY_MS,
        code_session_id=a,
    )
    assert (m.method, m.session_id, m.confidence, m.reason) == ("code", a, "exact", "code")
    assert m.lease_id is not None


async def test_static_source_and_unknown_numbers_have_no_confidence(world: World) -> None:
    m = await match_call(
        world.db, tracking_number="+815017008888", caller=CALLER, started_ms=T0 + MIN
    )
    assert (m.method, m.confidence) == ("static_source", "")
    m = await match_call(world.db, tracking_number="+15551234567", caller=CALLER, started_ms=T0)
    assert (m.method, m.confidence, m.candidates) == ("none", "", [])


def test_confidence_order() -> None:
    assert CONFIDENCES == ("exact", "high", "medium", "low")
    assert at_least("high") == ("exact", "high")
    assert at_least("low") == CONFIDENCES
    with pytest.raises(ValueError):
        at_least("certain")
