"""The REST API: tokens, scope, pagination, calls and sessions, bad input."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from backend.api import openapi
from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms


async def test_tokens_create_list_revoke(client: httpx.AsyncClient, world: World) -> None:
    r = await client.post(
        "/api/tokens",
        json={"name": "reporting", "advertiser_id": world.advertiser_id},
        headers=world.auth(),
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["token"].startswith("cp_") and made["advertiser_id"] == world.advertiser_id
    assert made["can_see_callers"] is False
    new = {"Authorization": f"Bearer {made['token']}"}
    calls = (await client.get("/api/calls", headers=new)).json()["data"]
    assert {c["advertiser_id"] for c in calls} == {world.advertiser_id}
    assert all("*" in c["caller"] for c in calls if c["caller"].startswith("+"))
    listed = (await client.get("/api/tokens", headers=world.auth())).json()["data"]
    assert made["id"] in [t["id"] for t in listed] and "token" not in listed[0]
    r = await client.delete(f"/api/tokens/{made['id']}", headers=world.auth())
    assert r.status_code == 204
    r = await client.get("/api/calls", headers=new)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    # Another user's token is not found, not revocable.
    r = await client.delete(f"/api/tokens/{made['id']}", headers=world.auth(world.member_token))
    assert r.status_code == 404


async def test_a_token_never_reaches_wider(client: httpx.AsyncClient, world: World) -> None:
    member = world.auth(world.member_token)
    r = await client.post("/api/tokens", json={"name": "x"}, headers=member)
    assert r.status_code == 201 and r.json()["advertiser_id"] == world.other_advertiser_id
    r = await client.post("/api/tokens", json={"name": "x", "advertiser_id": None}, headers=member)
    assert r.status_code == 403
    r = await client.post(
        "/api/tokens", json={"name": "x", "advertiser_id": world.advertiser_id}, headers=member
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/tokens", json={"name": "x", "can_see_callers": True}, headers=member
    )
    assert r.status_code == 403
    for bad in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "x", "advertiser_id": "1"}):
        r = await client.post("/api/tokens", json=bad, headers=world.auth())
        assert r.status_code == 422, bad
    r = await client.post("/api/tokens", content=b"{not json", headers=world.auth())
    assert r.status_code == 400
    r = await client.post(
        "/api/tokens", json={"name": "x", "advertiser_id": 999}, headers=world.auth()
    )
    assert r.status_code == 422
    assert (
        await client.get("/api/tokens", headers={"Authorization": "Bearer nope"})
    ).status_code == 401


async def test_calls_pagination_with_signed_cursor(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    for minute in range(5):
        await world.add_call(db, jst_ms(2026, 11, 14, 10, minute))
    seen: list[int] = []
    url = f"/api/calls?limit=3&site_id={world.site_id}"
    cursor = None
    pages = 0
    while True:
        r = await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=world.auth())
        assert r.status_code == 200
        page = r.json()
        seen += [c["id"] for c in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    total = await db.fetchval("SELECT COUNT(*) FROM calls WHERE site_id = :s", {"s": world.site_id})
    assert len(seen) == total == 11 and pages == 4
    assert seen == sorted(seen, reverse=True)  # newest first, no repeats
    # A tampered cursor, or a session cursor used on calls, is refused.
    first = (await client.get(url, headers=world.auth())).json()["next_cursor"]
    r = await client.get(url + "&cursor=" + first[:-2] + "xx", headers=world.auth())
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_cursor"
    sessions = (await client.get("/api/sessions?limit=1", headers=world.auth())).json()
    r = await client.get(url + "&cursor=" + sessions["next_cursor"], headers=world.auth())
    assert r.status_code == 400
    for bad in ("limit=0", "limit=501", "limit=x", "qualified=maybe", "start=2026-02-30"):
        r = await client.get(f"/api/calls?{bad}", headers=world.auth())
        assert r.status_code == 422, bad


async def test_call_detail_has_session_and_path(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get(f"/api/calls/{world.calls['google']}", headers=world.auth())
    assert r.status_code == 200
    call = r.json()
    assert call["match_method"] == "lease" and call["qualified"] is True
    assert call["started_at"] == "2026-11-10T10:02:30+09:00"
    assert call["session"]["gclid"] == "Cj0KCQ-test-gclid"
    assert [p["title"] for p in call["session"]["page_views"]][:2] == ["Home", "インプラント"]
    r = await client.get(f"/api/calls/{world.calls['unmatched']}", headers=world.auth())
    assert r.json()["session"] is None
    # The member's token cannot see the demo advertiser's call or session.
    member = world.auth(world.member_token)
    assert (
        await client.get(f"/api/calls/{world.calls['google']}", headers=member)
    ).status_code == 404
    r = await client.get(f"/api/sessions/{world.sessions['google']}", headers=member)
    assert r.status_code == 404
    r = await client.get(f"/api/sessions/{world.sessions['other']}", headers=member)
    assert r.status_code == 200 and r.json()["gclid"] == "other-gclid"
    assert (await client.get("/api/calls/99999999999999999999", headers=member)).status_code == 404
    sessions = (await client.get("/api/sessions", headers=member)).json()["data"]
    assert [s["id"] for s in sessions] == [world.sessions["other"]]


async def test_qualified_filter_and_date_range(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get(
        "/api/calls?qualified=false&start=2026-11-12&end=2026-11-12", headers=world.auth()
    )
    assert [c["id"] for c in r.json()["data"]] == [world.calls["unqualified"]]
    r = await client.get(
        "/api/calls?start=2026-11-12T00:00:00%2B09:00&end=2026-11-12T08:30:00%2B09:00",
        headers=world.auth(),
    )
    assert [c["id"] for c in r.json()["data"]] == [world.calls["microsoft"], world.calls["yahoo"]]


async def test_openapi_covers_every_api_route(app: Starlette, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    missing = []
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/api"):
            continue
        path = openapi.openapi_path(route.path)
        for method in route.methods or ():
            if method == "HEAD":
                continue
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, f"/api routes missing from the OpenAPI document: {missing}"
    # And nothing documented that the app does not serve.
    served = {openapi.openapi_path(r.path) for r in app.routes if isinstance(r, Route)}
    assert set(doc["paths"]) <= served


async def test_last_used_is_recorded(client: httpx.AsyncClient, world: World) -> None:
    await client.get("/api/calls", headers=world.auth(world.member_token))
    tokens = (await client.get("/api/tokens", headers=world.auth(world.member_token))).json()
    assert tokens["data"][0]["last_used_ms"] is not None


async def test_reports_match_the_dashboard_numbers(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    reports = pytest.importorskip("attribution.reports")
    url = "/api/reports/calls?dimension=source&start=2026-11-01&end=2026-11-30"
    r = await client.get(url, headers=world.auth())
    assert r.status_code == 200, r.text
    expected = await reports.calls_report(
        db,
        advertiser_id=None,
        site_id=None,
        start_ms=jst_ms(2026, 11, 1),
        end_ms=jst_ms(2026, 12, 1),
        dimension="source",
    )
    assert r.json()["data"] == [
        {
            **row,
            "conversion_rate": float(row["conversion_rate"]),
            "no_session": bool(row.get("no_session")),
        }
        for row in expected
    ]
    by_key = {row["key"]: row for row in r.json()["data"]}
    assert by_key["google"]["calls"] >= 1
    member = await client.get(url, headers=world.auth(world.member_token))
    assert {row["key"] for row in member.json()["data"] if row["calls"]} <= {"", "google"}
    bad = await client.get("/api/reports/calls?dimension=weather", headers=world.auth())
    assert bad.status_code == 422
