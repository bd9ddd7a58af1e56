"""Token buckets: burst, refill, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution.ratelimit import TokenBuckets


def test_burst_then_refill_at_the_rate() -> None:
    buckets = TokenBuckets(rate_per_s=0.5, burst=3)
    assert [buckets.take("a", 0) for _ in range(4)] == [True, True, True, False]
    assert not buckets.take("a", 1_999)
    assert buckets.take("a", 2_000)
    assert not buckets.take("a", 2_000)
    # Other keys have their own bucket.
    assert buckets.take("b", 2_000)


def test_refill_stops_at_the_burst() -> None:
    buckets = TokenBuckets(rate_per_s=10, burst=2)
    buckets.take("a", 0)
    assert buckets.tokens("a", 10_000_000) == 2
    assert [buckets.take("a", 10_000_000) for _ in range(3)] == [True, True, False]


def test_a_clock_stepping_back_mints_nothing() -> None:
    buckets = TokenBuckets(rate_per_s=1, burst=1)
    assert buckets.take("a", 10_000)
    assert not buckets.take("a", 0)
    assert not buckets.take("a", 10_500)
    assert buckets.take("a", 11_000)


def test_memory_is_bounded_forgetting_the_least_recent() -> None:
    buckets = TokenBuckets(rate_per_s=0, burst=1, max_keys=3)
    for key in "abc":
        assert buckets.take(key, 0)
    assert not buckets.take("a", 0)  # a is now the most recent
    assert buckets.take("d", 0)  # b is forgotten
    assert len(buckets) == 3
    assert buckets.take("b", 0)  # back with a full bucket
    assert not buckets.take("a", 0)


@given(
    st.lists(st.tuples(st.integers(0, 5_000), st.sampled_from("xyz")), max_size=200),
    st.integers(1, 5),
    st.floats(0, 5),
)
def test_never_more_than_burst_plus_refill(
    steps: list[tuple[int, str]], burst: int, rate: float
) -> None:
    buckets = TokenBuckets(rate_per_s=rate, burst=burst)
    now = 0
    granted: dict[str, int] = {}
    for gap, key in steps:
        now += gap
        if buckets.take(key, now):
            granted[key] = granted.get(key, 0) + 1
    for count in granted.values():
        assert count <= burst + rate * now / 1000 + 1e-6


def test_remembered_buckets_are_not_tracked_by_the_garbage_collector() -> None:
    # A full collection walks every tracked object: 100,000 remembered addresses as
    # objects made it pause a busy server for tens of milliseconds.
    import gc

    buckets = TokenBuckets(rate_per_s=1, burst=2)
    for i in range(100):
        buckets.take(f"198.18.0.{i}", 0)
    buckets.take("198.18.0.1", 10)
    gc.collect()
    assert not any(gc.is_tracked(state) for state in buckets._buckets.values())
    assert buckets.tokens("198.18.0.1", 10) == pytest.approx(0.01)
