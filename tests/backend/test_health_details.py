"""``GET /healthz/details`` is for the operator: whom ``/metrics`` lets in (an allowed
address, loopback by default, or the metrics token); 403 elsewhere.

It names the database's and the journal's paths and the last storage error, so it must
not leak through a reverse proxy on the same host (docs/operations.md, "Health"): the
proxy connects from loopback too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import GUARD_OFF
from tests.support.browser import BROWSER_HEADERS


async def _details(app: Starlette, peer: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 4000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=BROWSER_HEADERS
    ) as client:
        return await client.get("/healthz/details", headers=headers)


@pytest.fixture
async def proxied_app(database_url: str) -> AsyncIterator[Starlette]:
    """The app as docs/proxy.md sets it up: nginx on the same host is trusted."""
    settings = Settings(
        database_url=database_url,
        secret_key="test-secret",
        log_level="warning",
        trusted_proxies="127.0.0.1",
        **GUARD_OFF,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_details_answer_an_operator_on_the_host(app: Starlette) -> None:
    r = await _details(app, "127.0.0.1", {})
    assert r.status_code == 200
    assert r.json()["storage"]["reachable"] is True


async def test_details_are_refused_from_elsewhere(app: Starlette) -> None:
    r = await _details(app, "198.51.100.7", {})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert "storage" not in r.text


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9;proto=https"},
        {"X-Real-IP": "203.0.113.9"},
    ],
)
async def test_details_are_refused_through_an_untrusted_local_proxy(
    app: Starlette, header: dict[str, str]
) -> None:
    # A proxy on the host that CALLPATH_TRUSTED_PROXIES does not name: the peer is
    # loopback, but the request came from someone the proxy speaks for.
    r = await _details(app, "127.0.0.1", header)
    assert r.status_code == 403
    assert "storage" not in r.text


async def test_through_the_trusted_proxy_the_client_decides(proxied_app: Starlette) -> None:
    # The proxy names the client: someone on the internet is refused, someone on the host
    # (the proxy forwarding loopback) is the operator.
    r = await _details(proxied_app, "127.0.0.1", {"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 403
    assert "storage" not in r.text
    r = await _details(proxied_app, "127.0.0.1", {"X-Forwarded-For": "127.0.0.1"})
    assert r.status_code == 200
