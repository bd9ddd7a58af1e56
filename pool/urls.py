"""Safe URL parsing: a URL that does not parse is absent, never an exception.

Every URL that comes from outside — a visitor's page URL, referrer and ``Origin`` header,
a carrier's request URL, a setting a user typed — is read through these functions.
The standard library raises ``ValueError`` on some strings: :func:`urllib.parse.urlsplit`
on an unbalanced or invalid bracketed host (``http://[::1/``, ``//[``, ``http://[zz]/``),
and ``SplitResult.port`` on a port that is not a number from 0 to 65535
(``http://a:b/``). Such a URL is treated as if none had been sent: no host, no query.

It lives in ``pool/`` because ``pool/rules.py`` reads landing-page parameters and referrer
hosts, and ``pool/`` imports nothing above it; ``attribution/`` and ``backend/`` use it too.
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, urlsplit


def split_url(text: str) -> SplitResult | None:
    """The parts of ``text`` as :func:`urllib.parse.urlsplit` gives them, or None when
    it does not parse (its host or port included: both are read here once, so a caller
    may read ``hostname`` and ``port`` of the result without a ``try``)."""
    try:
        parts = urlsplit(text)
        _ = parts.hostname
        _ = parts.port
    except ValueError:
        return None
    return parts


def url_host(text: str) -> str:
    """The lower-case host of ``text`` ('' when it has none or does not parse)."""
    parts = split_url(text)
    return "" if parts is None else parts.hostname or ""


def query_pairs(text: str, *, keep_blank_values: bool = False) -> list[tuple[str, str]]:
    """The query parameters of the URL ``text`` in order ([] when it does not parse)."""
    parts = split_url(text)
    if parts is None:
        return []
    try:
        return parse_qsl(parts.query, keep_blank_values=keep_blank_values)
    except ValueError:  # parse_qsl raises only past max_num_fields; kept safe all the same
        return []
