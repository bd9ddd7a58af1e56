"""A client cannot choose the address callpath sees, directly or through the documented
reverse proxy (Debian's nginx, configured with each ```nginx block of the docs).

The address is what every per-address limit keys on: the live-lease cap, the session rate
limit and the sign-in throttle. It is checked where it ends up, in the salted hash stored
on each session, and by the limits themselves holding while every request claims a new
address in ``X-Forwarded-For``. A claimed ``X-Forwarded-Proto: https`` must not make the
sign-in cookie ``Secure`` either (only the proxy says which scheme the visitor used).

Loopback is a whole /8: clients here connect from 127.0.0.2, 127.0.0.3 … so that each
"visitor" has a real address of its own, while nginx reaches callpath from 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from attribution.guard import hashes_of
from attribution.tokens import SESSION_TOKEN, Signer
from backend import accounts
from backend.storage import open_database
from pool.store import now_ms
from tests.dashboard.conftest import CSRF
from tests.hardening.conftest import CROWD_SITE, seed_crowd
from tests.support.nginx import Nginx, documented_blocks
from tests.support.postgres import run_sync
from tests.support.server import TEST_SECRET_KEY, Server

pytestmark = pytest.mark.e2e

CAP = 3
LOGIN_BURST = 3
HEADERS = {
    "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/131.0.0.0 Safari/537.36",
    "accept-language": "ja,en;q=0.8",
    "content-type": "text/plain;charset=UTF-8",
    "origin": "https://shop.example",
}
GUARD_ON = {
    "CALLPATH_IP_RATE_PER_MINUTE": "30",
    "CALLPATH_IP_RATE_BURST": "20",
    "CALLPATH_IP_MAX_LIVE_SESSIONS": str(CAP),
    "CALLPATH_LOGIN_FAILURE_BURST": str(LOGIN_BURST),
}
BLOCKS = documented_blocks()


@dataclass
class Guarded:
    server: Server
    site_id: int
    secret: str

    def hashes(self, address: str) -> list[str]:
        return hashes_of(self.secret, address, site_id=self.site_id, now_ms=now_ms())

    def stored_hash(self, token: str) -> str | None:
        """The ip hash stored on the token's session (None: no session was stored)."""
        session_id = Signer(self.secret, SESSION_TOKEN).read(token)
        path = self.server.database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT ip_hash FROM sessions WHERE id = ?", (session_id,))
            found = row.fetchone()
            return None if found is None else str(found[0])
        finally:
            conn.close()


def _guarded(folder: Path, **env: str) -> Iterator[Guarded]:
    url = f"sqlite:///{folder / 'callpath.db'}"

    async def seed() -> dict[str, Any]:
        db = await open_database(url)
        try:
            crowd = await seed_crowd(db)
            # A user exists, so /login is the sign-in form (not the first run's set-up).
            async with db.write() as tx:
                await accounts.create_user(
                    tx,
                    email="owner@example.com",
                    password="a long password",
                    role="admin",
                    now_ms=0,
                )
            return crowd
        finally:
            await db.close()

    crowd = run_sync(seed())
    server = Server(url, env_extra={**GUARD_ON, **env}).start()
    try:
        yield Guarded(server, crowd["site_id"], TEST_SECRET_KEY)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """A server with the default settings: no proxy is trusted."""
    yield from _guarded(tmp_path_factory.mktemp("direct"))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """A server that trusts the proxy on 127.0.0.1 (nginx reaches it from there)."""
    yield from _guarded(tmp_path_factory.mktemp("proxied"), CALLPATH_TRUSTED_PROXIES="127.0.0.1")


@dataclass
class Seen:
    """What one client saw while claiming a new address on every request."""

    swaps: list[bool]  # whether each session request got a number
    tokens: list[str]
    logins: list[int]  # status of each failed sign-in
    login_cookie: str  # the Set-Cookie of the sign-in form


def _claim_other_addresses(base: str, local: str) -> Seen:
    """Session requests and failed sign-ins from ``local``, each claiming a fresh address
    (and https) in the headers a proxy would set."""

    def claims(n: int) -> dict[str, str]:
        fake = f"203.0.113.{n}"
        return {
            "x-forwarded-for": fake,
            "x-real-ip": fake,
            "forwarded": f"for={fake};proto=https",
            "x-forwarded-proto": "https",
        }

    transport = httpx.HTTPTransport(local_address=local)
    with httpx.Client(base_url=base, transport=transport, timeout=30) as client:
        swaps, tokens = [], []
        for n in range(CAP + 4):
            body = {"site": CROWD_SITE, "url": f"https://shop.example/lp?n={n}"}
            r = client.post(
                "/v1/session", content=orjson.dumps(body), headers={**HEADERS, **claims(n)}
            )
            assert r.status_code == 200, r.text
            swaps.append(bool(r.json()["swaps"]))
            tokens.append(r.json()["token"])
        form = client.get("/login", headers={**HEADERS, **claims(100)})
        assert form.status_code == 200
        token = CSRF.search(form.text)
        assert token
        logins = []
        for n in range(LOGIN_BURST + 3):
            r = client.post(
                "/login",
                data={"csrf": token.group(1), "email": f"guess{n}@example.com", "password": "x"},
                headers={"user-agent": HEADERS["user-agent"], **claims(101 + n)},
            )
            logins.append(r.status_code)
    return Seen(swaps, tokens, logins, form.headers.get("set-cookie", ""))


def _assert_seen_as(seen: Seen, guarded: Guarded, address: str) -> None:
    # The lease cap holds although every request claimed a different address …
    assert seen.swaps == [True] * CAP + [False] * 4
    # … because every stored session carries the hash of the real one.
    stored = [guarded.stored_hash(t) for t in seen.tokens]
    assert all(h in guarded.hashes(address) for h in stored if h is not None)
    assert sum(h is not None for h in stored) == CAP
    # The sign-in throttle counts the failures of the real address.
    assert seen.logins == [401] * LOGIN_BURST + [429] * 3
    assert "cp_login=" in seen.login_cookie
    assert "secure" not in seen.login_cookie.lower()


def test_a_direct_client_cannot_choose_its_address(direct: Guarded) -> None:
    """From loopback, where uvicorn used to trust X-Forwarded-For by default."""
    seen = _claim_other_addresses(direct.server.url, "127.0.0.1")
    _assert_seen_as(seen, direct, "127.0.0.1")


@pytest.mark.parametrize("block", [b for _, b in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_through_the_documented_nginx_a_client_cannot_choose_its_address(
    proxied: Guarded, block: str, tmp_path: Path
) -> None:
    # One real address per documented block, so the blocks' caps do not add up.
    n = [b for _, b in BLOCKS].index(block)
    client, other = f"127.0.0.{10 + 2 * n}", f"127.0.0.{11 + 2 * n}"
    with Nginx(block, proxied.server.port, tmp_path / "nginx") as nginx:
        seen = _claim_other_addresses(nginx.url, client)
        _assert_seen_as(seen, proxied, client)
        # The proxy is believed, so visitors are told apart by their own address, not
        # all seen as nginx's 127.0.0.1.
        body = {"site": CROWD_SITE, "url": "https://shop.example/"}
        transport = httpx.HTTPTransport(local_address=other)
        with httpx.Client(transport=transport, timeout=30) as c:
            r = c.post(nginx.url + "/v1/session", content=orjson.dumps(body), headers=HEADERS)
        assert r.json()["swaps"]
        assert proxied.stored_hash(r.json()["token"]) in proxied.hashes(other)


def test_the_docs_show_an_nginx_block() -> None:
    assert any(name.startswith("docs/proxy.md") for name, _ in BLOCKS)
