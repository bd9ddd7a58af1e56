"""Address keys: IPv4 as is, IPv6 by its /64, junk in one shared bucket."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from attribution.netaddr import ip_key


def test_ipv4_is_its_own_key() -> None:
    assert ip_key("203.0.113.5") == "203.0.113.5"
    assert ip_key(" 203.0.113.5 ") == "203.0.113.5"


def test_ipv6_counts_by_its_64() -> None:
    a = ip_key("2001:db8:1:2:aaaa::1")
    b = ip_key("2001:DB8:1:2:ffff:ffff:ffff:ffff")
    assert a == b == "2001:db8:1:2::/64"
    assert ip_key("2001:db8:1:3::1") != a
    assert ip_key("[2001:db8:1:2::9]") == a
    assert ip_key("fe80::1%eth0") == "fe80::/64"


def test_ipv4_mapped_ipv6_is_the_ipv4_key() -> None:
    assert ip_key("::ffff:203.0.113.5") == "203.0.113.5"


def test_not_an_address_shares_one_key() -> None:
    for junk in (None, "", "unknown", "testclient", "/tmp/sock", "1.2.3.4.5", "[::1"):
        assert ip_key(junk) == ""


@given(st.ip_addresses(v=6))
def test_every_ipv6_address_lands_in_its_own_64(address: ipaddress.IPv6Address) -> None:
    key = ip_key(str(address))
    if address.ipv4_mapped is not None:
        assert key == str(address.ipv4_mapped)
    else:
        assert address in ipaddress.ip_network(key)
        assert ipaddress.ip_network(key).prefixlen == 64


@given(st.text(max_size=80))
def test_any_text_gives_a_short_key(text: str) -> None:
    key = ip_key(text)
    assert len(key) <= 43
