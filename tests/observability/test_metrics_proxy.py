"""``/metrics`` behind the documented nginx (docs/proxy.md): the scraper's own address
decides, the proxy's loopback address never lets the internet in, and nginx's request id
is the one callpath logs and answers.

Loopback is a whole /8: "scrapers" connect to nginx from 127.0.0.5 and 127.0.0.6, and
nginx reaches callpath from 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.nginx import Nginx, documented_blocks
from tests.support.server import Server, run_cli

pytestmark = pytest.mark.e2e

PROXY_BLOCK = next(block for name, block in documented_blocks() if name == "docs/proxy.md#1")


def _get(url: str, source: str, **headers: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.get(url + "/metrics", headers=headers)


def _behind_nginx(folder: Path, **env: str) -> Iterator[Nginx]:
    url = f"sqlite:///{folder / 'callpath.db'}"
    assert run_cli("migrate", database_url=url).returncode == 0
    server = Server(url, env_extra=env).start()
    try:
        with Nginx(PROXY_BLOCK, server.port, folder / "nginx") as nginx:
            yield nginx
    finally:
        server.stop()


@pytest.fixture
def trusted_nginx(tmp_path: Path) -> Iterator[Nginx]:
    """nginx named in CALLPATH_TRUSTED_PROXIES; only 127.0.0.5 may scrape."""
    yield from _behind_nginx(
        tmp_path,
        CALLPATH_TRUSTED_PROXIES="127.0.0.1",
        CALLPATH_METRICS_ALLOWED_NETWORKS="127.0.0.5",
    )


@pytest.fixture
def forgotten_nginx(tmp_path: Path) -> Iterator[Nginx]:
    """nginx the operator forgot to name: it reaches callpath from loopback."""
    yield from _behind_nginx(tmp_path)


def test_through_nginx_the_scrapers_own_address_decides(trusted_nginx: Nginx) -> None:
    ok = _get(trusted_nginx.url, "127.0.0.5")
    assert ok.status_code == 200 and "callpath_visits_total" in ok.text
    # nginx's $request_id (32 hex digits) is the id callpath answers (and logs).
    assert re.fullmatch(r"[0-9a-f]{32}", ok.headers["x-request-id"])
    refused = _get(trusted_nginx.url, "127.0.0.6")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    # Claiming the allowed address does not help: nginx replaces the header.
    claimed = _get(trusted_nginx.url, "127.0.0.6", **{"X-Forwarded-For": "127.0.0.5"})
    assert claimed.status_code == 403


def test_an_unnamed_proxy_on_loopback_lets_no_one_in_by_address(forgotten_nginx: Nginx) -> None:
    """Every request through nginx comes from 127.0.0.1, which is allowed by default; the
    forwarding header nginx adds shows it is a proxy, so none is let in."""
    for source in ("127.0.0.1", "127.0.0.6"):
        r = _get(forgotten_nginx.url, source)
        assert r.status_code == 403, source
