"""A fresh install: no user, a one-time set-up code, the first administrator."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from starlette.applications import Starlette

from backend import setup_codes
from pool.store import Store, now_ms
from tests.dashboard.conftest import CSRF


async def _form(client: httpx.AsyncClient) -> str:
    page = await client.get("/setup")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


async def _set_up(
    client: httpx.AsyncClient, code: str, email: str = "owner@example.jp"
) -> httpx.Response:
    csrf = await _form(client)
    return await client.post(
        "/setup",
        data={"csrf": csrf, "code": code, "email": email, "password": "a good password"},
    )


async def test_a_fresh_install_leads_to_the_set_up_page(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).headers["location"] == "/setup"
    assert (await client.get("/dashboard")).headers["location"] == "/setup"
    assert (await client.get("/dashboard/calls")).headers["location"] == "/setup"
    assert (await client.get("/login")).headers["location"] == "/setup"
    page = await client.get("/setup")
    assert page.status_code == 200
    assert 'name="code"' in page.text
    assert page.headers["x-frame-options"] == "DENY"


async def test_the_code_printed_at_start_is_stored_hashed(app: Starlette, db: Store) -> None:
    rows = await db.fetchall("SELECT code_hash, used_ms FROM setup_codes")
    assert len(rows) == 1  # issued by the app's start (it logged it)
    assert re.fullmatch(r"[0-9a-f]{64}", rows[0]["code_hash"])
    assert rows[0]["used_ms"] is None


async def test_set_up_refuses_without_the_code_and_a_wrong_one(
    client: httpx.AsyncClient, db: Store
) -> None:
    code = await setup_codes.issue(db, now_ms())
    assert code
    for wrong in ("", "AAAA-BBBB-CCCC", code[:-1]):
        refused = await _set_up(client, wrong)
        assert refused.status_code == 403
        assert "cp_session" not in refused.cookies
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_set_up_without_the_forms_token_is_refused(
    client: httpx.AsyncClient, db: Store
) -> None:
    code = await setup_codes.issue(db, now_ms())
    assert code
    await _form(client)
    refused = await client.post(
        "/setup", data={"code": code, "email": "x@example.jp", "password": "a good password"}
    )
    assert refused.status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_the_code_creates_one_administrator_once(
    client: httpx.AsyncClient, db: Store, app: Starlette
) -> None:
    code = await setup_codes.issue(db, now_ms())
    assert code
    # Typed as printed, with dashes and in small letters: still the code.
    done = await _set_up(client, setup_codes.shown(code).lower())
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard"
    dashboard = await client.get("/dashboard")
    assert dashboard.status_code == 200  # signed in as the new administrator
    user = await db.fetchone("SELECT email, role, advertiser_id FROM users")
    assert user == {"email": "owner@example.jp", "role": "admin", "advertiser_id": None}
    # The page is gone once a user exists, for everybody, and the code is spent.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as stranger:
        assert (await stranger.get("/setup")).status_code == 404
        again = await stranger.post(
            "/setup", data={"code": code, "email": "thief@example.jp", "password": "x" * 12}
        )
        assert again.status_code == 404
        assert (await stranger.get("/")).headers["location"] == "/login"
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM setup_codes WHERE used_ms IS NULL") == 0


async def test_an_expired_code_is_refused(client: httpx.AsyncClient, db: Store) -> None:
    code = await setup_codes.issue(db, now_ms() - setup_codes.CODE_TTL_MS - 1)
    assert code
    assert (await _set_up(client, code)).status_code == 403


@pytest.mark.parametrize("attempts", [10])
async def test_guessing_the_code_is_throttled(
    client: httpx.AsyncClient, db: Store, attempts: int
) -> None:
    code = await setup_codes.issue(db, now_ms())
    assert code
    for _ in range(attempts):
        assert (await _set_up(client, "WRONG-WRONG-WRONG")).status_code == 403
    # Past the limit even the right code waits: it is not compared at all.
    throttled = await _set_up(client, code)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_a_demo_install_with_users_has_no_set_up(
    client: httpx.AsyncClient, demo: dict[str, object]
) -> None:
    assert (await client.get("/setup")).status_code == 404
    assert (await client.get("/")).headers["location"] == "/login"
    assert (await client.get("/examples/")).status_code == 404  # not under demo calls


async def test_a_code_printed_by_another_instance_still_works(
    client: httpx.AsyncClient, db: Store
) -> None:
    first = await setup_codes.issue(db, now_ms())
    second = await setup_codes.issue(db, now_ms())  # another instance, or a restart
    assert first and second and first != second
    assert (await _set_up(client, first)).status_code == 303
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 1


async def test_two_set_ups_sent_at_once_make_one_administrator(app: Starlette, db: Store) -> None:
    code = await setup_codes.issue(db, now_ms())
    assert code

    async def attempt(email: str) -> int:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as browser:
            csrf = await _form(browser)
            done = await browser.post(
                "/setup",
                data={"csrf": csrf, "code": code, "email": email, "password": "long enough"},
            )
            return done.status_code

    codes = await asyncio.gather(*(attempt(f"u{n}@example.jp") for n in range(4)))
    assert sorted(codes)[0] == 303 and codes.count(303) == 1, codes
    assert await db.fetchval("SELECT COUNT(*) FROM users") == 1
