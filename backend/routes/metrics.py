"""``GET /metrics``: the Prometheus exposition, for a scraper on an allowed address or
holding the metrics token.

Who may read it: a request from an address in ``CALLPATH_METRICS_ALLOWED_NETWORKS``
(loopback by default, so a Prometheus on the same host needs no setting), or one sending
``Authorization: Bearer <CALLPATH_METRICS_TOKEN>`` from anywhere. The address is the
visitor's as ``backend.proxies`` sees it: behind a reverse proxy named in
``CALLPATH_TRUSTED_PROXIES`` it is the proxy's client, and a request that carries
forwarding headers the app did not believe (a proxy not named there, whose own loopback
address would otherwise pass for the scraper's) is never let in by address. Everyone else
gets 403 with the JSON error shape; the figures say how the business runs (calls, pools),
so they are not for the internet.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend import proxies
from backend.errors import error_body
from backend.observability.metrics import Metrics
from backend.proxies import FORWARDED_BY

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


def parse_networks(text: str) -> tuple[Network, ...]:
    """``CALLPATH_METRICS_ALLOWED_NETWORKS`` as networks; a ValueError names a bad entry."""
    return proxies.parse_networks(text, "CALLPATH_METRICS_ALLOWED_NETWORKS")


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _address_allowed(request: Request, networks: tuple[Network, ...]) -> bool:
    if not networks or request.client is None:
        return False
    believed = FORWARDED_BY in request.scope
    if not believed and any(name in FORWARDING_HEADERS for name, _ in request.scope["headers"]):
        # Forwarded by someone the app does not know as a proxy: the peer address is the
        # proxy's (often loopback), not the scraper's.
        return False
    try:
        ip = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def allowed(request: Request) -> bool:
    """Whether this request may read the metrics (see the module's docstring)."""
    settings = request.app.state.settings
    token: str = settings.metrics_token
    sent = _bearer(request)
    if token and sent and hmac.compare_digest(sent.encode(), token.encode()):
        return True
    networks: tuple[Network, ...] = request.app.state.metrics_networks
    return _address_allowed(request, networks)


async def metrics(request: Request) -> Response:
    """The app's metrics in the Prometheus text format (OpenMetrics when asked for)."""
    if not allowed(request):
        return JSONResponse(
            error_body(
                403,
                "forbidden",
                "Metrics are served to allowed addresses and to holders of the metrics token"
                " (CALLPATH_METRICS_ALLOWED_NETWORKS, CALLPATH_METRICS_TOKEN).",
            ),
            status_code=403,
            headers={"Cache-Control": "no-store"},
        )
    registry: Metrics = request.app.state.metrics
    body, content_type = await registry.render(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
