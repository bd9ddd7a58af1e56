"""A token bucket per key, in memory, with a bound on how many keys it remembers.

Each key (an address, see :func:`attribution.netaddr.ip_key`) has a bucket holding at most
``burst`` tokens that refills at ``rate_per_s``; a request takes one token or is refused.
The state lives in one process: several instances each allow the rate, which is why the
live-lease cap (:mod:`attribution.guard`) is counted in the database instead.

Memory is bounded: past ``max_keys`` the least recently used bucket is forgotten. A
forgotten bucket restarts full, so the bound is set far above the number of addresses
that are active within one refill period; an attacker rotating through more addresses
than that is a distributed flood, which the per-address limit is not meant to stop.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp_ms: int


class TokenBuckets:
    """Per-key token buckets: :meth:`take` answers whether a request may go ahead."""

    def __init__(self, *, rate_per_s: float, burst: int, max_keys: int = 100_000) -> None:
        if rate_per_s < 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate_per_s must be >= 0, burst and max_keys >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now_ms: int, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket; False (and nothing taken) if short."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now_ms)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            # A clock that steps back must not mint tokens nor take them away.
            elapsed_ms = max(0, now_ms - bucket.stamp_ms)
            bucket.tokens = min(
                float(self.burst), bucket.tokens + elapsed_ms * self.rate_per_s / 1000.0
            )
            bucket.stamp_ms = max(bucket.stamp_ms, now_ms)
        if bucket.tokens + 1e-9 < cost:
            return False
        bucket.tokens -= cost
        return True

    def tokens(self, key: str, now_ms: int) -> float:
        """Tokens ``key`` would have at ``now_ms`` (a full bucket for an unknown key)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.burst)
        elapsed_ms = max(0, now_ms - bucket.stamp_ms)
        return min(float(self.burst), bucket.tokens + elapsed_ms * self.rate_per_s / 1000.0)
