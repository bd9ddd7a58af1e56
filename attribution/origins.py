"""Which pages may use a site's key: the site's domains against the page and its Origin."""

from __future__ import annotations

from attribution import referrers
from attribution.sources import host_of


def origin_allowed(domains: list[str], origin: str, page_url: str) -> bool:
    """Whether both the Origin header (when sent) and the page's host are site domains.

    A host matches a domain when equal to it or one of its subdomains; ``www.`` is ignored.
    An empty domain list allows every page.
    """
    return hosts_allowed(allowed_hosts(domains), origin, page_url)


def allowed_hosts(domains: list[str]) -> list[str]:
    """The domains as :func:`hosts_allowed` compares them (worked out once per site)."""
    return [referrers.normalise_host(d) for d in domains if d.strip()]


def hosts_allowed(allowed: list[str], origin: str, page_url: str) -> bool:
    """:func:`origin_allowed` with the domains already through :func:`allowed_hosts`."""
    if not allowed:
        return True
    hosts = [host_of(page_url)]
    if origin:
        hosts.append(host_of(origin))
    return all(host and any(host == d or host.endswith("." + d) for d in allowed) for host in hosts)
