"""Where this server may send an HTTP request that a user's setting points at.

Notification webhooks and the GA4 endpoint are URLs typed in by whoever may edit an
advertiser's or a site's settings. Sent blindly, they let that person make the server
POST into its own network: the cloud metadata service (169.254.169.254), a database
admin page on 127.0.0.1, a router on 10/8. So every such URL is checked when it is saved
and again when it is sent:

- only ``http`` / ``https``; the host must be a public address, or a name whose every
  address is public (loopback, private, link-local, multicast, reserved, unspecified and
  shared addresses are refused, for IPv4, IPv6, and IPv4 inside IPv6: mapped, compatible,
  6to4, Teredo, NAT64). Numeric hosts that ``inet_aton`` reads (``2130706433``,
  ``0x7f.1``, ``017700000001``) are read the same way here;
- at send time the name is resolved once, every address is checked, and the request goes
  to the checked address (the ``Host`` header and TLS name stay those of the URL), so a
  name that answers a public address when saved and 127.0.0.1 when sent (DNS rebinding)
  reaches nothing;
- redirects are never followed: a 3xx is a failed delivery.

``CALLPATH_OUTBOUND_ALLOW_HOSTS`` names the internal receivers an operator runs on purpose
(host names, addresses or networks); they skip the address check.

It lives in ``attribution/`` because GA4 pushes (``attribution.conversions``) use it and
the domain packages never import ``backend/``; notifications import it from here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the name has now, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]

SCHEMES = ("http", "https")
MAX_URL = 2000
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*$")
# What inet_aton might read as an address: digits, hex digits with 0x, dots.
_NUMERIC = re.compile(r"^[0-9a-fx.]+$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
# IETF protocol assignments: not routed on the internet, and only partly listed as private
# by the ipaddress module of Python 3.11 (192.0.0.8, the dummy address, passes there).
_IETF_V4 = ipaddress.IPv4Network("192.0.0.0/24")


class Refused(ValueError):
    """The destination is not one this server may send to (never retried)."""


class Unreachable(Exception):
    """The destination could not be looked up now (worth trying again later)."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` has now, by the system resolver (what a connect would use)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries to an IPv4 host."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64 or int(ip) >> 32 == 0:  # NAT64, and the old IPv4-compatible ::a.b.c.d
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def refusal(ip: IPAddress) -> str | None:
    """Why no user-supplied URL may reach ``ip``, or None when it is a public address."""
    for name, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            article = "an" if name[0] in "aeiou" else "a"
            return f"{ip} is {article} {name} address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _IETF_V4:
        return f"{ip} is a reserved address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _NAT64_LOCAL:
            return f"{ip} is a private address"
        for inner in _embedded_v4(ip):
            reason = refusal(inner)
            if reason is not None:
                return f"{ip} carries {reason}"
    if not ip.is_global:  # shared address space (100.64/10) and the like
        return f"{ip} is not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names by itself, in any form a resolver accepts, or None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _NUMERIC.match(host.lower()):
        try:  # 2130706433, 0x7f.1, 017700000001, 127.1: what getaddrinfo would connect to
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Which destinations user-supplied URLs may reach, and how names are resolved."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()
    resolve: Resolver = field(default=system_resolve, compare=False)
    timeout_s: float = 10.0

    @classmethod
    def parse(cls, allow: str, *, resolve: Resolver = system_resolve) -> OutboundPolicy:
        """A policy from ``CALLPATH_OUTBOUND_ALLOW_HOSTS`` (comma-separated host names,
        addresses or networks); raises ValueError on an entry that is none of those."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in allow.split(","):
            item = raw.strip().lower().rstrip(".")
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOSTNAME.match(item):
                raise ValueError(f"not a host name, address or network: {raw.strip()!r}")
            hosts.add(item)
        return cls(frozenset(hosts), tuple(networks), resolve)

    def host_allowed(self, host: str) -> bool:
        """Whether the operator named this host as a receiver of their own."""
        return host.lower().rstrip(".") in self.allow_hosts

    def allows(self, host: str) -> bool:
        """Whether the operator named this host: by name, or as an address of theirs."""
        if self.host_allowed(host):
            return True
        ip = literal_address(host)
        return ip is not None and self._in_allowed_network(ip)

    def _in_allowed_network(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow_networks)

    def address_refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be reached under this policy, or None."""
        return None if self._in_allowed_network(ip) else refusal(ip)


def parse_url(url: str, schemes: tuple[str, ...] = SCHEMES) -> httpx.URL:
    """The URL as the sending client reads it; Refused when it is not one we send to.

    The same parser (httpx's) reads it here and when it is sent, so the host checked is
    the host connected to (``http://a\\@127.0.0.1/`` is 127.0.0.1 to both).
    """
    if len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Refused("not a URL this server sends to")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise Refused(f"not a valid URL: {exc}") from None
    if parsed.scheme not in schemes:
        raise Refused(f"the URL must be {' or '.join(schemes)}")
    if not parsed.host or "%" in parsed.host:  # no host, a zone id or percent-encoding
        raise Refused("the URL must name a host")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _host(url: httpx.URL) -> str:
    """The host as it is resolved and sent (IDNA in ASCII, IPv6 without brackets)."""
    return url.raw_host.decode("ascii").lower()


def check_literal(url: httpx.URL, policy: OutboundPolicy) -> IPAddress | None:
    """The address the URL's host writes out, if it does; Refused when that address (or
    ``localhost``) is one the policy refuses."""
    host = _host(url)
    ip = literal_address(host)
    if policy.host_allowed(host):
        return ip
    if ip is not None:
        reason = policy.address_refusal(ip)
        if reason is not None:
            raise Refused(f"the URL may not point at this network: {reason}")
        return ip
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise Refused("the URL may not point at this machine (localhost)")
    return None


async def check_destination(
    url: str, policy: OutboundPolicy, schemes: tuple[str, ...] = SCHEMES
) -> httpx.URL:
    """Check a URL as it is saved: its form, its host, and the addresses the name has now.

    A name that does not resolve at the moment is accepted (the receiver may not be up
    yet); it is checked again, and for good, every time something is sent.
    """
    parsed = parse_url(url, schemes)
    host = _host(parsed)
    if policy.host_allowed(host) or check_literal(parsed, policy) is not None:
        return parsed
    try:
        found = await asyncio.wait_for(policy.resolve(host, _port(parsed)), policy.timeout_s)
    except (OSError, TimeoutError, UnicodeError):
        return parsed
    for text in found:
        reason = _refusal_of_text(text, policy)
        if reason is not None:
            raise Refused(f"the URL may not point at this network: {host}: {reason}")
    return parsed


def _refusal_of_text(text: str, policy: OutboundPolicy) -> str | None:
    try:
        return policy.address_refusal(ipaddress.ip_address(text))
    except ValueError:
        return f"{text!r} is not an address"


async def pin(url: str, policy: OutboundPolicy) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """Resolve a URL's host once, check every address, and aim the request at one of them.

    Returns the URL with the checked address for host, the ``Host`` header of the original,
    and the request extensions that keep TLS on the original name (SNI and certificate).
    """
    parsed = parse_url(url)
    ip = check_literal(parsed, policy)
    host = _host(parsed)
    if ip is None:
        try:
            found = await asyncio.wait_for(policy.resolve(host, _port(parsed)), policy.timeout_s)
            addresses = [ipaddress.ip_address(text) for text in found]
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
            raise Unreachable(f"cannot resolve {host}: {type(exc).__name__}") from None
        if not addresses:
            raise Unreachable(f"cannot resolve {host}: no address")
        if not policy.host_allowed(host):
            for address in addresses:
                reason = policy.address_refusal(address)
                if reason is not None:
                    raise Refused(f"{host} now points at this network: {reason}")
        ip = addresses[0]
        extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    else:
        extensions = {}
    headers = {"host": parsed.netloc.decode("ascii")}
    return parsed.copy_with(host=str(ip)), headers, extensions


def outbound_client(
    timeout_s: float = 10.0, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The client for user-supplied URLs: no redirects, no proxy from the environment, and
    no kept connections.

    Connections are pooled by the address connected to, not the name: a connection kept
    from ``https://a.example`` would carry a later request for ``https://b.example`` at the
    same address without checking b's certificate. So each request makes its own.
    """
    return httpx.AsyncClient(
        timeout=timeout_s,
        verify=verify,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def post(
    client: httpx.AsyncClient,
    url: str,
    policy: OutboundPolicy,
    *,
    content: bytes,
    headers: Mapping[str, str],
    method: str = "POST",
) -> httpx.Response:
    """POST (or ``method``) to a user-supplied URL at the address checked just now; never
    follows a redirect.

    ``client`` is one made by :func:`outbound_client`.

    Raises :class:`Refused` (the destination is not allowed), :class:`Unreachable` (its name
    does not resolve now) or ``httpx.HTTPError``.
    """
    target, host_header, extensions = await pin(url, policy)
    return await client.request(
        method,
        target,
        content=content,
        headers={**headers, **host_header},
        extensions=extensions,
        follow_redirects=False,
    )


def redact(url: str) -> str:
    """A URL as logs and error messages may show it: scheme, host and port only.

    Receivers often put a secret token in the path or query (Slack, Zapier, GA4's
    ``api_secret``); it stays out of logs.
    """
    try:
        parsed = httpx.URL(url)
        shown = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
    except (httpx.InvalidURL, ValueError, UnicodeError):
        return "(an invalid URL)"
    return shown + "/…" if parsed.raw_path not in (b"", b"/") else shown


_URL_IN_TEXT = re.compile(r"""https?://[^\s'"<>]+""", re.IGNORECASE)


def scrub(text: str) -> str:
    """Text (an error message) with every URL in it cut down by :func:`redact`."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
