"""Who sent a webhook: Twilio's ``X-Twilio-Signature`` and callpath's own PBX signature.

Twilio signs the full URL it requested followed by every POST parameter (sorted by name,
then value, name and value concatenated) with HMAC-SHA1 keyed by the account's auth token,
base64-encoded (or HMAC-SHA256 keyed by a SharedKey when the request carries
``X-Twilio-Webhooks-Signature-Settings: key=...,algorithm=HMAC_SHA256``). Every parameter
received is signed, so parameters Twilio adds in the future need no change here.

Other carriers and PBXs sign ``"{timestamp}." + raw body`` with HMAC-SHA256 and send
``X-Callpath-Timestamp: <unix seconds>`` and ``X-Callpath-Signature: v1=<hex>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlunsplit

from pool.urls import split_url

TWILIO_HEADER = "x-twilio-signature"
TWILIO_SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
PBX_TIMESTAMP_HEADER = "x-callpath-timestamp"
PBX_SIGNATURE_HEADER = "x-callpath-signature"

_ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def twilio_algorithm(settings_header: str) -> str | None:
    """The algorithm named by ``X-Twilio-Webhooks-Signature-Settings`` (default HMAC_SHA1).

    None when it names one this server does not know (the request is then refused).
    """
    for part in settings_header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
            return algorithm if algorithm in _ALGORITHMS else None
    return "HMAC_SHA1"


def twilio_signature(
    key: str, url: str, params: Sequence[tuple[str, str]], algorithm: str = "HMAC_SHA1"
) -> str:
    """The signature Twilio computes for a POST of ``params`` to ``url``."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    text = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(key.encode(), text.encode(), _ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as requested, without its port and with its default port.

    Twilio is not consistent about signing the port (its own validator tries both).
    A URL that does not parse (it is built from the request's ``Host`` header, which
    anyone can set) is tried only as it is.
    """
    parts = split_url(url)
    if parts is None:
        return [url]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    default = 443 if parts.scheme == "https" else 80
    bare = urlunsplit(parts._replace(netloc=prefix + host))
    ported = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{parts.port or default}"))
    return [url, bare, ported]


def twilio_valid(
    key: str,
    url: str,
    params: Sequence[tuple[str, str]],
    signature: str,
    algorithm: str = "HMAC_SHA1",
) -> bool:
    """Whether ``signature`` is Twilio's for this URL and these parameters."""
    if not key or not signature:
        return False
    return any(
        hmac.compare_digest(twilio_signature(key, candidate, params, algorithm), signature)
        for candidate in dict.fromkeys(_port_variants(url))
    )


def pbx_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Callpath-Signature`` value for a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def pbx_valid(
    secret: str, timestamp: str, body: bytes, signature: str, *, now_s: float, tolerance_s: int
) -> bool:
    """Whether a PBX request is signed with ``secret`` and sent within the replay window.

    ``signature`` may list several comma-separated ``v1=`` values (secret rotation).
    """
    if not secret or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now_s - int(timestamp)) > tolerance_s:
        return False
    expected = pbx_signature(secret, timestamp, body)
    return any(
        hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(",")[:5]
    )
