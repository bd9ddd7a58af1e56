"""Failed sign-ins are limited per address and per account; a refusal checks nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette

from backend.dashboard import logins
from backend.dashboard.throttle import LoginLimits, LoginThrottle
from backend.settings import Settings
from tests.conftest import GUARD_OFF, make_settings
from tests.dashboard.conftest import CSRF
from tests.dashboard.seed import PASSWORD, Seeded
from tests.support.browser import BROWSER_HEADERS

HOUR_MS = 3_600_000


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        trusted_proxies="127.0.0.1",  # where in-process requests come from
        login_failures_per_hour=6,
        login_failure_burst=3,
        **GUARD_OFF,
    )


async def _sign_in(app: Starlette, address: str, email: str, password: str) -> httpx.Response:
    headers = {**BROWSER_HEADERS, "Accept-Language": "en", "X-Forwarded-For": address}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        form = await client.get("/login")
        token = CSRF.search(form.text)
        assert token
        return await client.post(
            "/login", data={"csrf": token.group(1), "email": email, "password": password}
        )


async def test_an_address_past_its_failures_is_refused_without_a_password_check(
    app: Starlette, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three failures from one address, two of them on the admin's account.
    for email in (seeded.admin, "nobody@example.com", seeded.admin):
        assert (await _sign_in(app, "198.51.100.7", email, "nope")).status_code == 401
    checks: list[str] = []
    real = logins.verify_password
    monkeypatch.setattr(logins, "verify_password", lambda p, h: checks.append(p) or real(p, h))
    # Even the right password: the address has used its failures up.
    refused = await _sign_in(app, "198.51.100.7", seeded.admin, PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 600  # one failure back at 6 an hour
    assert "Too many failed sign-ins" in refused.text and "10 min" in refused.text
    assert "cp_session" not in refused.cookies
    assert checks == []
    # Any account from that address is refused; another address (the admin's account has
    # one failure left) is not.
    assert (await _sign_in(app, "198.51.100.7", "else@example.com", "x")).status_code == 429
    ok = await _sign_in(app, "203.0.113.9", seeded.admin, PASSWORD)
    assert ok.status_code == 303 and checks == [PASSWORD]


async def test_guesses_at_one_account_from_many_addresses_are_limited(
    app: Starlette, seeded: Seeded
) -> None:
    for i in range(3):
        assert (await _sign_in(app, f"198.51.100.{i}", seeded.admin, "nope")).status_code == 401
    assert (await _sign_in(app, "198.51.100.50", seeded.admin, PASSWORD)).status_code == 429
    # The e-mail as typed, in any case, is the same account.
    assert (await _sign_in(app, "198.51.100.51", seeded.admin.upper(), "x")).status_code == 429


async def test_successful_sign_ins_take_nothing(app: Starlette, seeded: Seeded) -> None:
    for _ in range(5):
        assert (await _sign_in(app, "198.51.100.7", seeded.admin, PASSWORD)).status_code == 303


def test_failures_come_back_at_the_hourly_rate() -> None:
    throttle = LoginThrottle(LoginLimits(per_hour=6, burst=2))
    for _ in range(2):
        assert throttle.attempt("2001:db8::1", "a@example.com", 0) == 0
    # The IPv6 /64 is one address.
    assert throttle.retry_after("2001:db8::ffff", "b@example.com", 0) == 600
    assert throttle.retry_after("2001:db8::1", "b@example.com", HOUR_MS // 6 - 60_000) == 60
    assert throttle.retry_after("2001:db8::1", "b@example.com", HOUR_MS // 6) == 0
    off = LoginThrottle(LoginLimits(per_hour=0))
    for _ in range(50):
        assert off.attempt("198.51.100.7", "a@example.com", 0) == 0
    # A success gives its reserved attempt back.
    fresh = LoginThrottle(LoginLimits(per_hour=6, burst=1))
    assert fresh.attempt("198.51.100.9", "c@example.com", 0) == 0
    fresh.succeeded("198.51.100.9", "c@example.com", 0)
    assert fresh.attempt("198.51.100.9", "c@example.com", 0) == 0


async def test_guesses_sent_all_at_once_are_limited_too(
    app: Starlette, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty guesses in flight together: only the burst's three get a password check."""
    checks: list[str] = []
    real = logins.verify_password
    monkeypatch.setattr(logins, "verify_password", lambda p, h: checks.append(p) or real(p, h))
    answers = await asyncio.gather(
        *(_sign_in(app, "198.51.100.7", seeded.admin, f"guess-{i}") for i in range(20))
    )
    assert sorted(r.status_code for r in answers) == [401] * 3 + [429] * 17
    assert len(checks) == 3


async def test_the_password_check_runs_off_the_event_loop(
    app: Starlette, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scrypt takes tens of milliseconds of CPU: on the loop's thread it would stall every
    # webhook and visit meanwhile.
    import threading

    threads: list[threading.Thread] = []
    real = logins.verify_password

    def spy(password: str, stored: str) -> bool:
        threads.append(threading.current_thread())
        return real(password, stored)

    monkeypatch.setattr(logins, "verify_password", spy)
    assert (await _sign_in(app, "198.51.100.7", seeded.admin, PASSWORD)).status_code == 303
    assert (await _sign_in(app, "198.51.100.8", "nobody@example.com", "x")).status_code == 401
    assert len(threads) == 2
    assert all(t is not threading.main_thread() for t in threads)
