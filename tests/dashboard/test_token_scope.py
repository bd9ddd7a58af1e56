"""API tokens never outlive their user's access, and read-only tokens only read.

The seeded world (tests/dashboard/seed.py): root@example.com is an administrator who may see
callers; member A and member B belong to the demo clinic (A) and the rival clinic (B). The
demo's admin@example.com is the administrator who changes other users in the dashboard.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from backend.demo import DEMO_LOGIN
from tests.dashboard.conftest import login
from tests.dashboard.seed import CALLER_B, PASSWORD, Seeded, add_token
from tests.hardening.conftest import snapshot

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _mint(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    """``POST /api/tokens`` with ``body``, as the holder of ``token``."""
    return await client.post("/api/tokens", json=body, headers=_bearer(token))


async def _change_user(
    client: httpx.AsyncClient, db: Any, email: str, **form: str
) -> httpx.Response:
    """The demo administrator changes the user ``email`` on the dashboard's users page."""
    csrf = await login(client, *DEMO_LOGIN)
    user_id = await db.fetchval("SELECT id FROM users WHERE email = :e", {"e": email})
    return await client.post(f"/dashboard/settings/users/{user_id}", data={"csrf": csrf, **form})


def _callers(listing: dict[str, Any]) -> list[str]:
    return [c["caller"] for c in listing["data"]]


async def test_an_administrators_token_loses_what_the_demoted_user_lost(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    token = await add_token(db, seeded.admin, advertiser_id=None, can_see_callers=True)
    before = (await client.get("/api/calls", headers=_bearer(token))).json()
    assert CALLER_B in _callers(before)  # every advertiser, callers in full
    qualification = f"/api/sites/{seeded.site_a}/qualification"
    allowed = await client.put(qualification, json={"min_talk_seconds": 5}, headers=_bearer(token))
    assert allowed.status_code == 200

    # root is made a member of advertiser A, without caller visibility.
    changed = await _change_user(client, db, seeded.admin, role="member", advertiser=seeded.adv_a)
    assert changed.status_code == 303

    after = await client.get("/api/calls", headers=_bearer(token))
    assert after.status_code == 200
    calls = after.json()["data"]
    assert calls and {c["advertiser_id"] for c in calls} == {seeded.adv_a}
    assert all("*" in c["caller"] for c in calls), _callers(after.json())
    other = await client.get(f"/api/calls/{seeded.calls_b[0]}", headers=_bearer(token))
    assert other.status_code == 404
    asked = await client.get(f"/api/calls?advertiser_id={seeded.adv_b}", headers=_bearer(token))
    assert asked.status_code == 403
    export = await client.get("/api/exports/paths?format=ndjson", headers=_bearer(token))
    assert CALLER_B not in export.text and "Rival" not in export.text
    # Admin-only settings are refused, in the JSON error shape, even on its own advertiser.
    refused = await client.put(qualification, json={"min_talk_seconds": 99}, headers=_bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    stored = await db.fetchval(
        "SELECT min_talk_s FROM qualification_rules WHERE site_id = :s", {"s": seeded.site_a}
    )
    assert stored == 5
    # The pool's routes (backend/routes/api_pool.py) apply the same cut.
    numbers = await client.get("/api/numbers", headers=_bearer(token))
    assert numbers.status_code == 200
    assert "+815099990001" not in numbers.text
    rival = await client.get(f"/api/numbers/{seeded.number_b}", headers=_bearer(token))
    assert rival.status_code == 404
    # Nor can it mint a token wider than the user now is.
    assert (await _mint(client, token, name="wide", advertiser_id=None)).status_code == 403
    assert (await _mint(client, token, name="see", can_see_callers=True)).status_code == 403


async def test_an_administrator_who_may_no_longer_see_callers_gets_them_masked(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    token = await add_token(db, seeded.admin, advertiser_id=None, can_see_callers=True)
    changed = await _change_user(client, db, seeded.admin, role="admin")  # box left unticked
    assert changed.status_code == 303
    calls = (await client.get("/api/calls", headers=_bearer(token))).json()
    assert {c["advertiser_id"] for c in calls["data"]} == {seeded.adv_a, seeded.adv_b}
    assert CALLER_B not in _callers(calls)
    assert all("*" in c for c in _callers(calls))
    one = await client.get(f"/api/calls/{seeded.calls_b[0]}", headers=_bearer(token))
    assert one.status_code == 200 and one.json()["caller"] != CALLER_B


async def test_a_token_of_a_user_moved_to_another_advertiser_reaches_nothing(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    token = await add_token(db, seeded.member_b, advertiser_id=seeded.adv_b)
    assert (await client.get("/api/calls", headers=_bearer(token))).status_code == 200
    moved = await _change_user(client, db, seeded.member_b, role="member", advertiser=seeded.adv_a)
    assert moved.status_code == 303
    for path in ("/api/calls", f"/api/calls/{seeded.calls_b[0]}", "/api/numbers", "/api/tokens"):
        refused = await client.get(path, headers=_bearer(token))
        assert refused.status_code == 403, path
        assert set(refused.json()["error"]) >= {"code", "message", "status"}


async def test_a_member_token_made_while_an_administrator_is_cut_to_the_members_advertiser(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    # Made unscoped while root was an administrator; root is then a member of B.
    token = await add_token(db, seeded.admin, advertiser_id=None)
    await _change_user(client, db, seeded.admin, role="member", advertiser=seeded.adv_b)
    calls = (await client.get("/api/calls", headers=_bearer(token))).json()["data"]
    assert calls and {c["advertiser_id"] for c in calls} == {seeded.adv_b}


async def test_disabling_a_user_disables_their_tokens_and_logins(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    token = await add_token(db, seeded.member_b, advertiser_id=seeded.adv_b)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as member:
        await login(member, seeded.member_b, PASSWORD)
        disabled = await _change_user(
            client, db, seeded.member_b, role="member", advertiser=seeded.adv_b, disabled="1"
        )
        assert disabled.status_code == 303
        refused = await client.get("/api/calls", headers=_bearer(token))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert (await member.get("/dashboard")).status_code == 303  # signed out
        form = await member.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        again = await member.post(
            "/login",
            data={"csrf": csrf.group(1), "email": seeded.member_b, "password": PASSWORD},
        )
        assert again.status_code == 401
    listed = await client.get("/dashboard/settings/users")
    assert '<span class="badge">disabled</span>' in listed.text
    # Enabling the user again does not bring the old token back.
    enabled = await _change_user(
        client, db, seeded.member_b, role="member", advertiser=seeded.adv_b
    )
    assert enabled.status_code == 303
    assert (await client.get("/api/calls", headers=_bearer(token))).status_code == 401


def _api_writes(app: Starlette) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api"):
            for method in sorted((route.methods or set()) & WRITES):
                found.append((method, route.path))
    return found


def _url(path: str, s: Seeded) -> str:
    ids = {
        "site_id": s.site_b,
        "number_id": s.number_b,
        "pool_id": s.pool_b,
        "rule_id": s.rule_b,
        "token_id": s.token_b,
        "platform": "google",
    }
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(ids.get(m.group(1), 1)), path)


async def test_a_read_only_token_is_refused_on_every_write_of_every_api_route(
    app: Starlette, client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    token = await add_token(
        db, seeded.admin, advertiser_id=None, can_see_callers=True, read_only=True
    )
    reads = await client.get("/api/calls", headers=_bearer(token))
    assert reads.status_code == 200 and CALLER_B in reads.text  # it reads all it was given
    writes = _api_writes(app)
    # Both API route tables are walked: the pool's and backend/api's.
    assert ("POST", "/api/numbers") in writes and ("POST", "/api/tokens") in writes
    assert ("PUT", "/api/sites/{site_id:int}/qualification") in writes
    before = await snapshot(db, counters=True)
    for method, path in writes:
        response = await client.request(
            method, _url(path, seeded), json={"name": "x", "site": "rival"}, headers=_bearer(token)
        )
        assert response.status_code == 403, (method, path, response.text)
        error = response.json()["error"]
        assert error["code"] == "forbidden" and error["status"] == 403, (method, path)
        assert "read-only" in error["message"]
    assert await snapshot(db, counters=True) == before


async def test_a_read_only_token_made_over_the_api_reads_but_does_not_write(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    admin = await add_token(db, seeded.admin, advertiser_id=None, can_see_callers=True)
    made = await _mint(client, admin, name="bi", advertiser_id=seeded.adv_b, read_only=True)
    assert made.status_code == 201, made.text
    assert made.json()["read_only"] is True
    token = made.json()["token"]
    assert (await client.get("/api/calls", headers=_bearer(token))).status_code == 200
    listed = (await client.get("/api/tokens", headers=_bearer(admin))).json()["data"]
    assert any(t["read_only"] for t in listed)
    assert (await _mint(client, token, name="escape", read_only=False)).status_code == 403


async def test_the_dashboards_token_page_makes_read_only_tokens(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    page = await client.get("/dashboard/settings/tokens")
    assert 'name="read_only"' in page.text and "Read only" in page.text
    made = await client.post(
        "/dashboard/settings/tokens", data={"csrf": csrf, "name": "bi", "read_only": "1"}
    )
    assert made.status_code == 200
    secret = re.search(r'id="new-token">([^<]+)<', made.text)
    assert secret
    row = await db.fetchone("SELECT read_only, advertiser_id FROM api_tokens WHERE name = 'bi'")
    assert row is not None
    assert (row["read_only"], row["advertiser_id"]) == (1, seeded.adv_a)
    assert "Read only" in made.text  # the list says which tokens only read
    token = secret.group(1)
    assert (await client.get("/api/calls", headers=_bearer(token))).status_code == 200
    refused = await client.post("/api/rules", json={"site": "demo"}, headers=_bearer(token))
    assert refused.status_code == 403
