"""Outbound webhooks, signed like inbound PBX requests.

``X-Callpath-Timestamp: <unix seconds>``, ``X-Callpath-Signature: v1=<hex HMAC-SHA256 of
"{timestamp}." + body>`` keyed with the target's secret, ``X-Callpath-Event`` and
``X-Callpath-Delivery`` (the delivery id, the same on every retry, for de-duplication).

The URL is a user's setting: it goes through ``attribution.outbound`` (checked address,
no redirects), and errors name only its scheme and host, never the path or query where
receivers keep their secret tokens.
"""

from __future__ import annotations

import time

import httpx

from attribution import outbound
from backend.telephony.signature import pbx_signature


class DeliveryError(Exception):
    """A delivery failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    secret: str,
    event: str,
    delivery: int,
    policy: outbound.OutboundPolicy,
) -> None:
    """POST one signed notification; raise :class:`DeliveryError` unless it got a 2xx."""
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "user-agent": "callpath-notify/1",
        "x-callpath-timestamp": ts,
        "x-callpath-event": event,
        "x-callpath-delivery": str(delivery),
    }
    if secret:
        headers["x-callpath-signature"] = pbx_signature(secret, ts, body)
    try:
        response = await outbound.post(client, url, policy, content=body, headers=headers)
    except outbound.Refused as exc:
        # Where the URL points does not change by trying again.
        raise DeliveryError(str(exc), permanent=True) from None
    except outbound.Unreachable as exc:
        raise DeliveryError(str(exc)) from None
    except httpx.HTTPError as exc:
        # Some httpx messages name the URL: scrubbed to scheme and host.
        raise DeliveryError(f"{type(exc).__name__}: {outbound.scrub(str(exc))}") from None
    if 200 <= response.status_code < 300:
        return
    status = response.status_code
    if 300 <= status < 400:
        # Redirects are not followed: the next hop would be a destination nobody checked.
        raise DeliveryError(f"HTTP {status} (redirects are not followed)", permanent=True)
    # 4xx other than timeout / rate limit: retrying the same body will not help.
    permanent = 400 <= status < 500 and status not in (408, 425, 429)
    raise DeliveryError(f"HTTP {status}", permanent=permanent)
