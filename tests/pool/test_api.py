"""``/api/numbers``, ``/api/pools``, ``/api/rules``: bearer token, advertiser scope, errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend import accounts
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.pool.helpers import T0, make_pool_site, new_sessions


async def _token(db: SQLiteDatabase, advertiser_id: int | None, email: str) -> dict[str, str]:
    async with db.write() as tx:
        user = await accounts.create_user(
            tx,
            email=email,
            password="pw",
            role="member" if advertiser_id else "admin",
            advertiser_id=advertiser_id,
            now_ms=T0,
        )
        token = await accounts.create_api_token(
            tx, user_id=user, advertiser_id=advertiser_id, name="t", now_ms=T0
        )
    return {"Authorization": f"Bearer {token}"}


# A source number of site s1, as the number tests and the rule tests add it.
FLYER = {"number": "0120-111-222", "kind": "source", "site": "s1", "label": "Flyer"}
# A pool of site s1 that does not exist yet.
OSAKA = {"site": "s1", "target": "06-6123-4567"}


async def _policy(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> httpx.Response:
    """PUT ``fields`` as site s1's policy."""
    return await client.put("/api/pools/policy", headers=headers, json={"site": "s1", **fields})


@pytest.fixture
async def two(db: SQLiteDatabase) -> dict[str, Any]:
    """Two advertisers' sites (s1, s2) and a token for each plus an admin token."""
    a = await make_pool_site(db, size=2)
    b = await make_pool_site(db, size=2, site_key="s2", target="+81312340000", first=100)
    return {
        "a": a,
        "b": b,
        "ha": await _token(db, a.advertiser_id, "a@example.com"),
        "hb": await _token(db, b.advertiser_id, "b@example.com"),
        "admin": await _token(db, None, "root@example.com"),
    }


async def test_a_token_is_required(client: httpx.AsyncClient, two: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = await client.get("/api/numbers", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_numbers_are_scoped_to_the_tokens_advertiser(
    client: httpx.AsyncClient, two: Any
) -> None:
    mine = (await client.get("/api/numbers", headers=two["ha"])).json()["numbers"]
    assert {n["site"] for n in mine} == {"s1"} and len(mine) == 3
    assert mine[0]["national"].startswith("050-") and mine[0]["kind"] == "pool"
    everything = (await client.get("/api/numbers", headers=two["admin"])).json()["numbers"]
    assert len(everything) == 6
    theirs = two["b"].number_ids[0]
    r = await client.get(f"/api/numbers/{theirs}", headers=two["ha"])
    assert r.status_code == 404 and r.json()["error"]["status"] == 404
    r = await client.post(f"/api/numbers/{theirs}/retire", headers=two["ha"])
    assert r.status_code == 404
    r = await client.post(
        "/api/numbers", headers=two["ha"], json={"number": "050-3333-0001", "site": "s2"}
    )
    assert r.status_code == 422 and "no site has the key 's2'" in r.json()["error"]["message"]


async def test_add_a_number_then_retire_it(
    client: httpx.AsyncClient, two: Any, db: SQLiteDatabase
) -> None:
    flyer = {**FLYER, "forward_to": "03-1234-5678"}
    r = await client.post("/api/numbers", headers=two["ha"], json=flyer)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number["number"] == "+81120111222" and number["national"] == "0120-111-222"
    same = {**FLYER, "number": "0120111222", "label": "x", "target": "03-1234-5678"}
    again = await client.post("/api/numbers", headers=two["ha"], json=same)
    assert again.status_code == 422
    assert again.json()["error"]["errors"][0]["reason"].endswith(
        f"is already stored (id {number['id']})"
    )
    r = await client.post(f"/api/numbers/{number['id']}/retire", headers=two["ha"])
    assert r.json() == {"id": number["id"], "status": "retired"}


async def test_import_is_all_or_nothing(
    client: httpx.AsyncClient, two: Any, db: SQLiteDatabase
) -> None:
    before = await db.fetchval("SELECT COUNT(*) FROM tracking_numbers")
    bad = "number,target\n050-4444-0001,03-1234-5678\nnot-a-number,03-1234-5678\n"
    r = await client.post(
        "/api/numbers/import?site=s1",
        headers=two["ha"],
        content=bad.encode(),
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_numbers" and error["status"] == 422
    assert [(e["row"], e["field"]) for e in error["errors"]] == [(3, "number")]
    assert "not-a-number" in error["errors"][0]["reason"]
    assert "row 3, number" in error["message"]
    assert await db.fetchval("SELECT COUNT(*) FROM tracking_numbers") == before
    good = "number,target\n050-4444-0001,03-1234-5678\n050-4444-0002,03-1234-5678\n"
    r = await client.post("/api/numbers/import?site=s1", headers=two["ha"], content=good)
    assert r.status_code == 201 and r.json()["imported"] == 2
    assert [n["pool_id"] for n in r.json()["numbers"]] == [two["a"].pool_id] * 2


async def test_pools_are_created_listed_and_report_health(
    client: httpx.AsyncClient, two: Any
) -> None:
    r = await client.post(
        "/api/pools",
        headers=two["ha"],
        json={**OSAKA, "label": "Osaka", "ttl_seconds": 600},
    )
    assert r.status_code == 201, r.text
    pool = r.json()["pool"]
    assert pool["target"] == "+81661234567" and pool["ttl_seconds"] == 600 and pool["size"] == 0
    dup = await client.post("/api/pools", headers=two["ha"], json=OSAKA)
    assert dup.status_code == 422 and dup.json()["error"]["field"] == "target"
    listed = (await client.get("/api/pools", headers=two["ha"])).json()["pools"]
    assert [p["site"] for p in listed] == ["s1", "s1"]
    r = await client.get(f"/api/pools/{two['a'].pool_id}", headers=two["ha"])
    assert r.status_code == 200
    body = r.json()
    assert body["pool"]["size"] == 2 and body["health"]["size"] == 2
    assert "hours" not in body["health"]
    r = await client.get(f"/api/pools/{two['a'].pool_id}/health?window_hours=3", headers=two["ha"])
    assert len(r.json()["health"]["hours"]) in (3, 4)
    r = await client.get(f"/api/pools/{two['b'].pool_id}/health", headers=two["ha"])
    assert r.status_code == 404


async def test_rules_over_the_api(client: httpx.AsyncClient, two: Any) -> None:
    flyer = {**FLYER, "target": "03-1234-5678"}
    assert (await client.post("/api/numbers", headers=two["ha"], json=flyer)).status_code == 201
    r = await client.post(
        "/api/rules",
        headers=two["ha"],
        json={
            "site": "s1",
            "kind": "param",
            "match_key": "cp",
            "match_value": "flyer",
            "action": "number",
            "number": "0120-111-222",
        },
    )
    assert r.status_code == 201, r.text
    rule_id = r.json()["rule"]["id"]
    listed = (await client.get("/api/rules?site=s1", headers=two["ha"])).json()["rules"]
    assert listed[0]["number"] == "+81120111222" and listed[0]["id"] == rule_id
    assert (await client.get("/api/rules?site=s1", headers=two["hb"])).status_code == 404
    assert (await client.delete(f"/api/rules/{rule_id}", headers=two["hb"])).status_code == 404
    assert (await client.delete(f"/api/rules/{rule_id}", headers=two["ha"])).status_code == 204
    assert (await client.get("/api/rules?site=s1", headers=two["ha"])).json()["rules"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/numbers", {"site": "s1"}, "number"),
        ("POST", "/api/numbers", {"number": 5, "site": "s1"}, "number"),
        ("POST", "/api/numbers", {"number": "0" * 41, "site": "s1"}, "number"),
        ("POST", "/api/pools", {"site": "s1", "target": "0612345", "ttl_seconds": 600}, "target"),
        ("POST", "/api/pools", {**OSAKA, "ttl_seconds": 1}, "ttl_seconds"),
        ("POST", "/api/pools", {**OSAKA, "grace_seconds": "x"}, "grace_seconds"),
        ("POST", "/api/pools", {**OSAKA, "ttl_seconds": True}, "ttl_seconds"),
        ("POST", "/api/rules", {"site": "s1", "kind": "magic", "action": "pool"}, "kind"),
        (
            "POST",
            "/api/rules",
            {"site": "s1", "kind": "param", "action": "pool", "priority": 10**9},
            "priority",
        ),
        ("GET", "/api/numbers?limit=0", None, "limit"),
        ("GET", "/api/rules", None, "site"),
    ],
)
async def test_bad_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
    two: Any,
    db: SQLiteDatabase,
    method: str,
    path: str,
    body: Any,
    field: str,
) -> None:
    counts = (
        "SELECT (SELECT COUNT(*) FROM tracking_numbers) + (SELECT COUNT(*) FROM pools)"
        " + (SELECT COUNT(*) FROM source_rules) + (SELECT COUNT(*) FROM targets)"
    )
    before = await db.fetchval(counts)
    r = await client.request(method, path, headers=two["ha"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert await db.fetchval(counts) == before


async def test_malformed_and_oversized_bodies(client: httpx.AsyncClient, two: Any) -> None:
    r = await client.post("/api/numbers", headers=two["ha"], content=b"{nope")
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = await client.post(
        "/api/numbers/import", headers=two["ha"], content=b"number\n" + b"1" * 2_100_000
    )
    assert r.status_code == 413
    r = await client.post("/api/numbers/import", headers=two["ha"], content=b"\xff\xfe\xfa\x80")
    assert r.status_code == 422


async def test_site_policies(client: httpx.AsyncClient, two: Any, db: SQLiteDatabase) -> None:
    r = await client.get("/api/pools/policy?site=s1", headers=two["ha"])
    assert r.json()["policy"] == {
        "site": "s1",
        "untracked_policy": "pool",
        "exhausted_policy": "overflow",
        "number_per_visitor": False,
        "default_target": "",
    }
    r = await _policy(client, two["ha"], exhausted_policy="original")
    assert r.status_code == 200 and r.json()["policy"]["exhausted_policy"] == "original"
    assert r.json()["policy"]["untracked_policy"] == "pool"
    r = await _policy(client, two["ha"], untracked_policy="maybe")
    assert r.status_code == 422 and r.json()["error"]["field"] == "untracked_policy"
    r = await _policy(client, two["hb"], untracked_policy="pool")
    assert r.status_code == 404
    assert (
        await db.fetchval("SELECT exhausted_policy FROM sites WHERE site_key = 's1'") == "original"
    )
    # One number per visitor, and its default target: a target of the site with a pool.
    r = await _policy(client, two["ha"], number_per_visitor="yes")
    assert r.status_code == 422 and r.json()["error"]["field"] == "number_per_visitor"
    r = await _policy(client, two["ha"], number_per_visitor=True, default_target="+819099999999")
    assert r.status_code == 422 and r.json()["error"]["field"] == "default_target"
    r = await _policy(client, two["ha"], number_per_visitor=True)
    assert r.status_code == 200 and r.json()["policy"]["number_per_visitor"] is True
    assert r.json()["policy"]["exhausted_policy"] == "original"


async def test_a_retiring_number_shows_retired_once_its_lease_idles_out(
    client: httpx.AsyncClient, two: Any, db: SQLiteDatabase
) -> None:
    from pool import leases

    ps = two["a"]
    (session,) = await new_sessions(db, ps.site_id, 1)
    now = now_ms()
    lease = await leases.acquire(db, pool_id=ps.pool_id, session_id=session, now_ms=now)
    assert lease is not None
    r = await client.post(f"/api/numbers/{lease.number_id}/retire", headers=two["ha"])
    assert r.json()["status"] == "retiring"
    # The visitor leaves without a word: the lease idles out and nobody claims in the pool.
    await db.execute("UPDATE leases SET expires_ms = :t", {"t": now - 1})
    r = await client.get(f"/api/numbers/{lease.number_id}", headers=two["ha"])
    assert r.json()["number"]["status"] == "retired"
