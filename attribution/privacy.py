"""No raw visitor IP is stored: a keyed hash with a salt that changes every UTC day.

The day's salt is derived from the server's secret key and the day number, so it needs no
storage, is the same in every app instance, and after the day passes nothing links the
hash back to an address short of guessing the secret key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

DAY_MS = 86_400_000


def daily_salt(secret_key: str, now_ms: int) -> bytes:
    """The salt of the UTC day containing ``now_ms``."""
    return _salt_of_day(secret_key, now_ms // DAY_MS)


@functools.lru_cache(maxsize=16)
def _salt_of_day(secret_key: str, day: int) -> bytes:
    return hmac.new(secret_key.encode(), f"ip-salt:{day}".encode(), hashlib.sha256).digest()


def ip_hash(secret_key: str, ip: str, *, site_id: int, now_ms: int) -> str:
    """A 32-hex-digit hash of ``ip`` for one site and one day ('' without an address)."""
    if not ip:
        return ""
    message = f"{site_id}|{ip}".encode()
    # hmac.digest: one call into OpenSSL, not an HMAC object per visit; same value.
    return hmac.digest(daily_salt(secret_key, now_ms), message, "sha256").hex()[:32]
