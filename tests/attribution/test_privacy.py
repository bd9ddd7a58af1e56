"""The salted IP hash: its value is pinned, so hashes stored before a change still match."""

from __future__ import annotations

import hashlib
import hmac

from attribution.privacy import DAY_MS, daily_salt, ip_hash


def test_ip_hash_is_hmac_sha256_of_site_and_address_under_the_days_salt() -> None:
    now = 20_000 * DAY_MS + 5
    salt = hmac.new(b"k", b"ip-salt:20000", hashlib.sha256).digest()
    assert daily_salt("k", now) == salt
    expected = hmac.new(salt, b"7|198.51.100.7", hashlib.sha256).hexdigest()[:32]
    assert ip_hash("k", "198.51.100.7", site_id=7, now_ms=now) == expected
    # The salt turns at midnight UTC; another site or no address differ.
    assert ip_hash("k", "198.51.100.7", site_id=7, now_ms=now + DAY_MS) != expected
    assert ip_hash("k", "198.51.100.7", site_id=8, now_ms=now) != expected
    assert ip_hash("k", "", site_id=7, now_ms=now) == ""
