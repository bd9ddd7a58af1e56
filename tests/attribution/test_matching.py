"""Matching calls to sessions over lease histories built with the real pool."""

from __future__ import annotations

from attribution.matching import DAY_MS, match_call
from pool import leases
from pool.store import Store
from tests.attribution.conftest import MIN, T0, World, build_world, reused_number

CALLER = "+819012345678"
OTHER = "+819087654321"


async def test_single_holder_is_a_lease_match(world: World) -> None:
    a = await world.session(T0)
    lease = await world.lease(a, T0)
    m = await match_call(
        world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0 + 5 * MIN
    )
    assert (m.method, m.session_id, m.lease_id) == ("lease", a, lease.lease_id)
    assert m.candidates == [a]
    assert m.number_id == lease.number_id and m.site_id == world.site_id
    assert m.advertiser_id == world.advertiser_id and m.forward_to == "+81312345678"
    assert m.kind == "pool" and m.pool_id == world.pool_id


async def test_national_format_of_the_dialled_number_is_understood(world: World) -> None:
    a = await world.session(T0)
    lease = await world.lease(a, T0)
    national = "050-1700-00" + lease.number[-2:]
    m = await match_call(world.db, tracking_number=national, caller=CALLER, started_ms=T0 + MIN)
    assert m.method == "lease" and m.session_id == a


async def test_reuse_after_cooldown_goes_to_the_holder_at_call_time(db: Store) -> None:
    _w, a, b, la, lb = await reused_number(db)
    early = await match_call(db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 12 * MIN)
    assert (early.method, early.session_id, early.lease_id) == ("lease", a, la.lease_id)
    late = await match_call(db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 45 * MIN)
    assert (late.method, late.session_id, late.lease_id) == ("lease", b, lb.lease_id)
    between = await match_call(
        db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 30 * MIN
    )
    assert between.method == "none" and between.session_id is None


async def test_call_in_the_grace_window_after_release(world: World) -> None:
    a = await world.session(T0)
    lease = await world.lease(a, T0)
    await leases.release(world.db, lease_id=lease.lease_id, now_ms=T0 + 10 * MIN)
    inside = await match_call(
        world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0 + 19 * MIN
    )
    assert inside.method == "lease" and inside.session_id == a
    outside = await match_call(
        world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0 + 21 * MIN
    )
    # Nobody holds it: no session, but the session that let it go 11 minutes ago stays a
    # candidate (within the late-call window), and past that window nobody is.
    assert (outside.method, outside.session_id, outside.confidence) == ("none", None, "")
    assert outside.candidates == [a] and outside.reason == "no_holder"
    days_later = await match_call(
        world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0 + DAY_MS
    )
    assert days_later.method == "none" and days_later.candidates == []


async def test_grace_counts_from_expiry_of_a_lease_never_ended(world: World) -> None:
    a = await world.session(T0)
    lease = await world.lease(a, T0)  # ttl 30 min, never heartbeats, never swept
    m = await match_call(
        world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0 + 35 * MIN
    )
    assert m.method == "lease" and m.session_id == a
    m = await match_call(
        world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0 + 41 * MIN
    )
    assert m.method == "none"


async def test_two_candidates_are_ambiguous_and_the_most_recent_is_chosen(
    db: Store,
) -> None:
    # A cooldown shorter than the grace window lets a number be reused while the previous
    # holder could still call: both are candidates.
    _w, a, b, la, lb = await reused_number(
        db, released_ms=T0 + 5 * MIN, second_ms=T0 + 8 * MIN, cooldown_ms=2 * MIN
    )
    m = await match_call(db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 9 * MIN)
    assert m.method == "ambiguous"
    assert sorted(m.candidates) == sorted([a, b])
    assert (m.session_id, m.lease_id) == (b, lb.lease_id)


async def test_repeat_caller_wins_over_a_newer_strangers_lease(db: Store) -> None:
    w = await build_world(db, pool_size=1)
    a = await w.session(T0)
    la = await w.lease(a, T0)
    await w.call(la.number, CALLER, T0 + 5 * MIN, session_id=a)
    await leases.release(db, lease_id=la.lease_id, now_ms=T0 + 10 * MIN)
    day2 = T0 + DAY_MS
    stranger = await w.session(day2)
    ls = await w.lease(stranger, day2)
    assert ls.number == la.number
    m = await match_call(db, tracking_number=la.number, caller=CALLER, started_ms=day2 + MIN)
    assert (m.method, m.session_id, m.lease_id) == ("repeat_caller", a, la.lease_id)
    assert m.candidates == [a, stranger]
    # Another caller on the same number is the stranger's.
    m = await match_call(db, tracking_number=la.number, caller=OTHER, started_ms=day2 + MIN)
    assert (m.method, m.session_id) == ("lease", stranger)
    # Past the repeat window the stranger's lease decides.
    m = await match_call(
        db, tracking_number=la.number, caller=CALLER, started_ms=day2 + MIN, repeat_days=0
    )
    assert (m.method, m.session_id) == ("lease", stranger)


async def test_repeat_caller_without_any_lease_weeks_later(world: World) -> None:
    a = await world.session(T0)
    la = await world.lease(a, T0)
    await world.call(la.number, CALLER, T0 + MIN, session_id=a)
    later = T0 + 20 * DAY_MS
    m = await match_call(world.db, tracking_number=la.number, caller=CALLER, started_ms=later)
    assert (m.method, m.session_id) == ("repeat_caller", a)
    m = await match_call(
        world.db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 40 * DAY_MS
    )
    assert m.method == "none"


async def test_withheld_caller_is_never_a_repeat_caller(db: Store) -> None:
    w = await build_world(db, pool_size=1)
    a = await w.session(T0)
    la = await w.lease(a, T0)
    await w.call(la.number, "anonymous", T0 + MIN, session_id=a)
    await leases.release(db, lease_id=la.lease_id, now_ms=T0 + 2 * MIN)
    b = await w.session(T0 + DAY_MS)
    await w.lease(b, T0 + DAY_MS)
    m = await match_call(
        db, tracking_number=la.number, caller="anonymous", started_ms=T0 + DAY_MS + MIN
    )
    assert (m.method, m.session_id) == ("lease", b)


async def test_repeat_caller_on_a_number_their_session_never_held(db: Store) -> None:
    # The earlier session held another number: the live holder of this one is a better
    # guess (likely the same person on a new device), so the lease decides.
    w = await build_world(db, pool_size=2)
    a = await w.session(T0)
    la = await w.lease(a, T0)
    await w.call(la.number, CALLER, T0 + MIN, session_id=a)
    b = await w.session(T0 + 2 * MIN)
    lb = await w.lease(b, T0 + 2 * MIN)
    assert lb.number != la.number
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 3 * MIN)
    assert (m.method, m.session_id) == ("lease", b)


async def test_the_callers_own_live_session_settles_reuse(db: Store) -> None:
    w = await build_world(db, pool_size=1, cooldown_ms=MIN, grace_ms=10 * MIN)
    a = await w.session(T0)
    la = await w.lease(a, T0)
    await w.call(la.number, CALLER, T0 + MIN, session_id=a)
    await leases.release(db, lease_id=la.lease_id, now_ms=T0 + 2 * MIN)
    b = await w.session(T0 + 4 * MIN)
    await w.lease(b, T0 + 4 * MIN)
    m = await match_call(db, tracking_number=la.number, caller=CALLER, started_ms=T0 + 5 * MIN)
    assert (m.method, m.session_id) == ("repeat_caller", a)
    assert sorted(m.candidates) == sorted([a, b])


async def test_overflow_number(db: Store) -> None:
    w = await build_world(db, pool_size=1, overflow=True)
    a, b, c = [await w.session(T0 + i * MIN) for i in range(3)]
    assert not (await w.lease(a, T0)).overflow
    lb = await w.lease(b, T0 + MIN)
    assert lb.overflow and lb.number == "+815017009999"
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 90_000)
    assert (m.method, m.session_id, m.lease_id) == ("overflow", b, lb.lease_id)
    assert m.kind == "overflow"
    await w.lease(c, T0 + 2 * MIN)
    m = await match_call(db, tracking_number=lb.number, caller=CALLER, started_ms=T0 + 3 * MIN)
    assert m.method == "overflow" and m.session_id is None
    assert m.candidates == [c, b]


async def test_static_source_number(world: World) -> None:
    m = await match_call(
        world.db, tracking_number="+815017008888", caller=CALLER, started_ms=T0 + MIN
    )
    assert m.method == "static_source" and m.kind == "source"
    assert m.session_id is None and m.site_id == world.site_id
    assert m.forward_to == "+81312345678"


async def test_no_lease_and_unknown_number(world: World) -> None:
    m = await match_call(world.db, tracking_number=world.numbers[0], caller=CALLER, started_ms=T0)
    assert m.method == "none" and m.number_id == world.number_ids[world.numbers[0]]
    assert m.forward_to == "+81312345678" and m.candidates == []
    m = await match_call(world.db, tracking_number="+15551234567", caller=CALLER, started_ms=T0)
    assert (m.method, m.number_id, m.site_id, m.forward_to, m.kind) == ("none", None, None, "", "")
    m = await match_call(world.db, tracking_number="garbage", caller="", started_ms=T0)
    assert m.method == "none" and m.number_id is None


async def test_a_lease_that_starts_after_the_call_does_not_count(world: World) -> None:
    a = await world.session(T0 + 10 * MIN)
    lease = await world.lease(a, T0 + 10 * MIN)
    m = await match_call(world.db, tracking_number=lease.number, caller=CALLER, started_ms=T0)
    assert m.method == "none"
