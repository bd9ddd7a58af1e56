"""Changing one's own password asks for the current one and signs the other sessions out;
setting another user's password stays an administrator's action on the users page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette

from backend.dashboard.logins import check_password
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded

NEW = "a-new-password-77"


def _other_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@asynccontextmanager
async def _signed_in_twice(
    app: Starlette, here: httpx.AsyncClient, user: str, other_user: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A second browser with ``other_user`` signed in, then ``user`` on ``here``: that
    browser and ``here``'s CSRF token."""
    async with _other_client(app) as there:
        await login(there, other_user, PASSWORD)
        yield there, await login(here, user, PASSWORD)


async def test_a_new_password_needs_the_current_one(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    # Someone at an unlocked browser, who does not know the password, tries to take over.
    for current in ({}, {"current_password": ""}, {"current_password": "a-wrong-guess"}):
        refused = await client.post(
            "/dashboard/account", data={"csrf": csrf, "locale": "", "password": NEW, **current}
        )
        assert refused.status_code == 403, current
        assert "current password" in refused.text
    assert await check_password(db, seeded.member_a, PASSWORD) is not None
    assert await check_password(db, seeded.member_a, NEW) is None
    page = await client.get("/dashboard/account")
    assert 'name="current_password"' in page.text


async def test_changing_the_password_signs_out_the_other_sessions_only(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    async with _signed_in_twice(app, client, seeded.member_a, seeded.member_a) as (elsewhere, csrf):
        changed = await client.post(
            "/dashboard/account",
            data={"csrf": csrf, "locale": "", "password": NEW, "current_password": PASSWORD},
        )
        assert changed.status_code == 303
        assert (await client.get("/dashboard")).status_code == 200  # this session goes on
        assert (await elsewhere.get("/dashboard")).status_code == 303  # the other one is out
    assert await check_password(db, seeded.member_a, NEW) is not None
    assert await check_password(db, seeded.member_a, PASSWORD) is None


async def test_an_administrator_resets_others_but_not_their_own_password_there(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    async with _signed_in_twice(app, client, seeded.admin, seeded.member_b) as (member, csrf):
        member_b = await db.fetchval(
            "SELECT id FROM users WHERE email = :e", {"e": seeded.member_b}
        )
        reset = await client.post(
            f"/dashboard/settings/users/{member_b}",
            data={"csrf": csrf, "role": "member", "advertiser": str(seeded.adv_b), "password": NEW},
        )
        assert reset.status_code == 303
        assert await check_password(db, seeded.member_b, NEW) is not None
        assert (await member.get("/dashboard")).status_code == 303  # signed out
        # The users page is not a way around the current password for oneself.
        me = await db.fetchval("SELECT id FROM users WHERE email = :e", {"e": seeded.admin})
        own = await client.post(
            f"/dashboard/settings/users/{me}",
            data={"csrf": csrf, "role": "admin", "can_see_callers": "1", "password": NEW},
        )
        assert own.status_code == 409
        assert await check_password(db, seeded.admin, PASSWORD) is not None
        # Members cannot reset anyone's.
        member_csrf = await login(member, seeded.member_b, NEW)
        refused = await member.post(
            f"/dashboard/settings/users/{me}",
            data={"csrf": member_csrf, "role": "admin", "password": "stolen-pass-1"},
        )
        assert refused.status_code == 403
    assert await check_password(db, seeded.admin, PASSWORD) is not None


async def test_guessing_the_current_password_is_throttled_like_sign_ins(
    client: httpx.AsyncClient, app: Starlette, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    burst = app.state.settings.login_failure_burst
    statuses = []
    for i in range(burst + 1):
        guess = await client.post(
            "/dashboard/account",
            data={"csrf": csrf, "password": NEW, "current_password": f"guess-{i}"},
        )
        statuses.append(guess.status_code)
    assert statuses[:burst] == [403] * burst
    assert statuses[burst] == 429
    # Past the limit even the right password waits, so guessing gains nothing.
    right = await client.post(
        "/dashboard/account",
        data={"csrf": csrf, "password": NEW, "current_password": PASSWORD},
    )
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    assert await check_password(db, seeded.member_a, PASSWORD) is not None
