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


class TokenBuckets:
    """Per-key token buckets: :meth:`take` answers whether a request may go ahead."""

    def __init__(self, *, rate_per_s: float, burst: int, max_keys: int = 100_000) -> None:
        if rate_per_s < 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate_per_s must be >= 0, burst and max_keys >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        # key -> (tokens, stamp_ms). Tuples of numbers, not objects: the garbage collector
        # stops tracking such tuples, so a hundred thousand remembered addresses do not
        # lengthen its full collections (which pause the whole process).
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now_ms: int, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket; False (and nothing taken) if short."""
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens, stamp_ms = float(self.burst), now_ms
            self._buckets[key] = (tokens, stamp_ms)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            tokens, stamp_ms = bucket
            # A clock that steps back must not mint tokens nor take them away.
            elapsed_ms = max(0, now_ms - stamp_ms)
            tokens = min(float(self.burst), tokens + elapsed_ms * self.rate_per_s / 1000.0)
            stamp_ms = max(stamp_ms, now_ms)
        if tokens + 1e-9 < cost:
            self._buckets[key] = (tokens, stamp_ms)
            return False
        self._buckets[key] = (tokens - cost, stamp_ms)
        return True

    def tokens(self, key: str, now_ms: int) -> float:
        """Tokens ``key`` would have at ``now_ms`` (a full bucket for an unknown key)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.burst)
        tokens, stamp_ms = bucket
        elapsed_ms = max(0, now_ms - stamp_ms)
        return min(float(self.burst), tokens + elapsed_ms * self.rate_per_s / 1000.0)

    def refund(self, key: str, now_ms: int, amount: float = 1.0) -> None:
        """Give back ``amount`` tokens taken from ``key`` (never above the burst)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            tokens, stamp_ms = bucket
            self._buckets[key] = (min(float(self.burst), tokens + amount), stamp_ms)
