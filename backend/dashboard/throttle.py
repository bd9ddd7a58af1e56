"""Failed dashboard sign-ins are limited per address and per account.

Each attempt takes a token from the address's bucket (the IPv4 address or IPv6 /64, as the
flood guard counts) and from the account's (the e-mail as typed, lower-cased) before the
password is checked, and a successful one gives them back; a sign-in is refused, without
checking the password, while either bucket is empty. Taking first keeps many guesses sent
at once from all passing the check before any has failed. Checking a password costs tens
of milliseconds of scrypt, so the limit also keeps a stream of guesses from taking the
server's CPU. Successful sign-ins cost nothing.

The buckets live in this process's memory (:class:`attribution.ratelimit.TokenBuckets`):
several instances each allow the rate. Refusing an account whose bucket is empty lets
someone who knows a user's e-mail keep that user out for a while; the account's limit is
the backstop against guesses spread over many addresses, so it stays generous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from attribution.netaddr import ip_key
from attribution.ratelimit import TokenBuckets


@dataclass(frozen=True)
class LoginLimits:
    """How many failures are allowed (``per_hour`` 0 turns the limit off)."""

    per_hour: float = 10.0
    burst: int = 10
    max_keys: int = 100_000


class LoginThrottle:
    """Answers whether a sign-in may be checked, and counts the failures."""

    def __init__(self, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()
        rate = self.limits.per_hour / 3600.0
        burst = max(1, self.limits.burst)
        self._addresses = TokenBuckets(rate_per_s=rate, burst=burst, max_keys=self.limits.max_keys)
        self._accounts = TokenBuckets(rate_per_s=rate, burst=burst, max_keys=self.limits.max_keys)

    @staticmethod
    def _account(email: str) -> str:
        return email.strip().lower()[:320]

    def retry_after(self, address: str, email: str, now_ms: int) -> int:
        """Seconds until a sign-in from ``address`` for ``email`` may be checked (0: now)."""
        if self.limits.per_hour <= 0:
            return 0
        tokens = min(
            self._addresses.tokens(ip_key(address), now_ms),
            self._accounts.tokens(self._account(email), now_ms),
        )
        if tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - tokens) * 3600.0 / self.limits.per_hour))

    def attempt(self, address: str, email: str, now_ms: int) -> int:
        """Reserve one failure for a sign-in about to be checked; the seconds to wait when
        there is none left (0: go ahead)."""
        wait = self.retry_after(address, email, now_ms)
        if wait or self.limits.per_hour <= 0:
            return wait
        self._addresses.take(ip_key(address), now_ms)
        self._accounts.take(self._account(email), now_ms)
        return 0

    def succeeded(self, address: str, email: str, now_ms: int) -> None:
        """The reserved attempt signed in: it costs nothing."""
        if self.limits.per_hour <= 0:
            return
        self._addresses.refund(ip_key(address), now_ms)
        self._accounts.refund(self._account(email), now_ms)
