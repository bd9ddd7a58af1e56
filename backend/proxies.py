"""Who the visitor is behind a reverse proxy: ``CALLPATH_TRUSTED_PROXIES``.

Every per-address limit (the session rate limit, the live-lease cap, the heartbeat rate,
the sign-in throttle) and the stored address hash key on the connection's peer address.
Behind a reverse proxy the peer is the proxy, which says who its client was in
``X-Forwarded-For`` and which scheme it used in ``X-Forwarded-Proto``. Anyone can send
those headers, so they are believed only when the peer is one of the proxies named in
the setting; by default none is, and the peer is the visitor.

From a trusted peer the visitor is the rightmost ``X-Forwarded-For`` entry that is not
itself a trusted proxy: each proxy appends the address it was reached from, so everything
left of the first hop we do not run was written by the client and is never believed.

This is the app's own middleware, not the ASGI server's (``callpath serve`` turns
uvicorn's off): the same setting then holds for every worker, the telephony process, and
in-process tests, and uvicorn's habit of trusting loopback by default cannot come back.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("callpath")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Scope key set (to the proxy's address) when a trusted proxy's headers were believed:
# a route that lets addresses in (``/metrics``) must tell a believed forwarded address
# from a peer that forwards for someone else.
FORWARDED_BY = "callpath.forwarded_by"
_SCHEMES = {"http": "ws", "https": "wss"}
# Where an operator's own proxy connects from: loopback, private and shared (carrier-grade
# NAT, used by some cloud balancers) networks.
_WHERE_PROXIES_LIVE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """The networks of ``CALLPATH_TRUSTED_PROXIES`` (addresses or CIDR networks, comma or
    space separated); a ValueError names an entry that is neither."""
    return parse_networks(
        text,
        "CALLPATH_TRUSTED_PROXIES",
        refused={
            "*": "'*' would let anyone choose their own address;"
            " name your proxies' addresses or networks"
        },
    )


def parse_networks(
    text: str, setting: str, refused: Mapping[str, str] | None = None
) -> tuple[Network, ...]:
    """Addresses or CIDR networks, comma or space separated, as networks; a ValueError
    names the ``setting`` and the first entry that is neither, or that ``refused`` maps to
    the reason it is refused."""
    networks = []
    for entry in text.replace(",", " ").split():
        if refused and entry in refused:
            raise ValueError(f"{setting}: {refused[entry]}")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {entry!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``,
    ``::1``), IPv4-mapped IPv6 as IPv4; None when it is not one."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class ForwardedClient:
    """Sets the request's client (and scheme) from the trusted proxies' headers."""

    def __init__(self, app: ASGIApp, *, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted
        self.warned = False

    def is_trusted(self, host: str | None) -> bool:
        """Whether ``host`` (a peer or a forwarded entry) is one of the trusted proxies."""
        ip = _address(host or "")
        return ip is not None and any(ip in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            host = peer[0] if peer else None
            if self.trusted and self.is_trusted(host):
                self._believe(scope)
                scope[FORWARDED_BY] = host
            elif not self.warned:
                self._warn_if_a_proxy_is_missing(scope, host)
        await self.app(scope, receive, send)

    def _believe(self, scope: Scope) -> None:
        forwarded: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded += value.decode("latin-1").split(",")
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        client = None
        for entry in reversed(forwarded):
            ip = _address(entry)
            if ip is None:
                # A trusted hop wrote something that is no address: stop at that hop.
                break
            client = ip
            if not any(ip in network for network in self.trusted):
                break
        if client is not None:
            scope["client"] = (str(client), 0)
        if proto in _SCHEMES:
            scope["scheme"] = proto if scope["type"] == "http" else _SCHEMES[proto]

    def _warn_if_a_proxy_is_missing(self, scope: Scope, host: str | None) -> None:
        # A forwarded header from a private or loopback peer is most likely a proxy of
        # the operator's that the setting forgot: then every visitor shares its address.
        ip = _address(host or "")
        if ip is None or not any(ip in network for network in _WHERE_PROXIES_LIVE):
            return
        if any(name == b"x-forwarded-for" for name, _ in scope["headers"]):
            self.warned = True
            log.warning(
                "A request from %s carried X-Forwarded-For, which is ignored: %s is not in"
                " CALLPATH_TRUSTED_PROXIES. If it is your reverse proxy, add it there"
                " (docs/proxy.md); until then every visitor behind it shares its address,"
                " and its limits.",
                host,
                host,
            )
