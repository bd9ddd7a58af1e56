"""Every ``/api`` route a token reaches records the token's last use (issue #24).

Generated from the app's route table, so a route added in either API style is covered.
"""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from backend import accounts
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World


def _token_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, concrete path) of every /api route, path parameters set to an unknown id."""
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        path = re.sub(r"\{[^}]+\}", "999999", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, path))
    return found


async def test_every_api_route_records_the_tokens_last_use(
    app: Starlette, client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    admin = await db.fetchval("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
    routes = _token_routes(app)
    assert any(p.startswith("/api/numbers") for _, p in routes)
    assert any(p.startswith("/api/pools") for _, p in routes)
    assert any(p.startswith("/api/rules") for _, p in routes)
    checked, unrecorded = 0, []
    for method, path in routes:
        anonymous = await client.request(method, path)
        if anonymous.status_code != 401:
            continue  # not behind a token (e.g. the OpenAPI document)
        async with db.write() as tx:
            token = await accounts.create_api_token(
                tx,
                user_id=admin,
                advertiser_id=None,
                name=f"{method} {path}",
                now_ms=now_ms(),
                can_hear_recordings=True,  # transcript search asks for it before anything
            )
        r = await client.request(
            method, path, headers=world.auth(token), content=b"{}" if method != "GET" else None
        )
        assert r.status_code not in (401, 403), (method, path, r.text)
        used = await db.fetchval(
            "SELECT last_used_ms FROM api_tokens WHERE name = :n", {"n": f"{method} {path}"}
        )
        checked += 1
        if used is None:
            unrecorded.append(f"{method} {path}")
    assert checked > 10
    assert not unrecorded, f"token use not recorded on: {unrecorded}"
