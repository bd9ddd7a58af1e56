"""The key a visitor's address is counted under: the IPv4 address, or the IPv6 /64.

One IPv6 subscriber usually holds a whole /64 (often more), so counting single IPv6
addresses would let one machine rotate through 2**64 keys; the /64 is what one household
or one server gets. IPv4-mapped and 6to4-free forms are reduced to the IPv4 address so the
same client never counts under two keys.
"""

from __future__ import annotations

import functools
import ipaddress

IPV6_PREFIX = 64


@functools.lru_cache(maxsize=65_536)
def ip_key(address: str | None) -> str:
    """The counting key of ``address``: ``"203.0.113.5"`` or ``"2001:db8:1:2::/64"``.

    Anything that is not an IP address (a missing client, a Unix socket path, a junk
    forwarded value) gets the key ``""``: such requests share one bucket rather than each
    getting a fresh one, which would make them unlimited.
    """
    text = (address or "").strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    # A zone index (fe80::1%eth0) names an interface, not a different client.
    text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False)
        return str(network)
    return str(ip)
