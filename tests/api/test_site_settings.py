"""A site's qualification rules and tracking-parameter names over the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from attribution import qualification
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World


async def test_qualification_rules_read_change_and_judge_new_calls(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    url = f"/api/sites/{world.site_id}/qualification"
    r = await client.get(url, headers=world.auth())
    assert r.status_code == 200
    assert r.json() == {
        "min_talk_seconds": 60,
        "require_answered": True,
        "require_first_time": False,
        "first_time_days": 0,
    }
    short = await world.add_call(db, now_ms(), talk_s=40, caller="+819011112222")
    assert not await qualification.qualify_call(db, call_id=short)
    # Fields left out keep their value.
    r = await client.put(url, json={"min_talk_seconds": 30}, headers=world.auth())
    assert r.status_code == 200 and r.json()["min_talk_seconds"] == 30
    assert (await client.get(url, headers=world.auth())).json() == {
        "min_talk_seconds": 30,
        "require_answered": True,
        "require_first_time": False,
        "first_time_days": 0,
    }
    assert await qualification.qualify_call(db, call_id=short)
    r = await client.put(
        url, json={"require_first_time": True, "first_time_days": 30}, headers=world.auth()
    )
    assert r.json()["min_talk_seconds"] == 30 and r.json()["require_first_time"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"min_talk_seconds": "30"},
        {"min_talk_seconds": True},
        {"min_talk_seconds": -1},
        {"min_talk_seconds": 86_401},
        {"first_time_days": 3_651},
        {"require_answered": 1},
        {"billing": "yes"},
    ],
)
async def test_bad_qualification_changes_are_422_and_change_nothing(
    client: httpx.AsyncClient, world: World, body: dict[str, Any]
) -> None:
    url = f"/api/sites/{world.site_id}/qualification"
    before = (await client.get(url, headers=world.auth())).json()
    r = await client.put(url, json=body, headers=world.auth())
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    assert (await client.get(url, headers=world.auth())).json() == before


async def test_an_advertisers_token_reads_its_own_rules_and_changes_none(
    client: httpx.AsyncClient, world: World
) -> None:
    own = f"/api/sites/{world.other_site_id}/qualification"
    member = world.auth(world.member_token)
    assert (await client.get(own, headers=member)).status_code == 200
    # What counts is what the advertiser pays for: the portal decides it, not the advertiser.
    refused = await client.put(own, json={"min_talk_seconds": 600}, headers=member)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert (await client.get(own, headers=member)).json()["min_talk_seconds"] == 60
    # Another advertiser's site does not exist for it.
    other = f"/api/sites/{world.site_id}/qualification"
    assert (await client.get(other, headers=member)).status_code == 404
    assert (await client.put(other, json={}, headers=member)).status_code == 404


async def test_a_sites_own_parameter_names_classify_its_next_visits(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    url = f"/api/sites/{world.site_id}/tracking-params"
    r = await client.get(url, headers=world.auth())
    assert r.status_code == 200 and r.json()["params"] == {}
    assert r.json()["effective"]["keyword"][0] == "utm_term"
    r = await client.put(
        url, json={"params": {"keyword": ["Q", "q", "kwd"], "campaign": []}}, headers=world.auth()
    )
    assert r.status_code == 200
    assert r.json()["params"] == {"keyword": ["q", "kwd"]}
    assert r.json()["effective"]["keyword"][:3] == ["q", "kwd", "utm_term"]
    visit = await client.post(
        "/v1/session",
        json={"site": "demo", "url": "http://127.0.0.1/examples/?gclid=g1&Q=%E6%AD%AF%E7%A7%91"},
    )
    assert visit.status_code == 200 and visit.json()["swaps"]
    row = await db.fetchone("SELECT keyword FROM sessions WHERE gclid = 'g1'")
    assert row is not None and row["keyword"] == "歯科"
    # An empty object: the built-in names only.
    r = await client.put(url, json={"params": {}}, headers=world.auth())
    assert r.json()["params"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"params": {"keyword": "q"}},
        {"params": {"keyword": ["q q"]}},
        {"params": {"keyword": ["x" * 65]}},
        {"params": {"keyword": [f"k{i}" for i in range(11)]}},
        {"params": {"keyword": [1]}},
        {"params": {"colour": ["c"]}},
        {"params": []},
        {"names": {}},
    ],
)
async def test_bad_parameter_names_are_422_and_change_nothing(
    client: httpx.AsyncClient, world: World, body: dict[str, Any]
) -> None:
    url = f"/api/sites/{world.site_id}/tracking-params"
    await client.put(url, json={"params": {"keyword": ["q"]}}, headers=world.auth())
    r = await client.put(url, json=body, headers=world.auth())
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    assert (await client.get(url, headers=world.auth())).json()["params"] == {"keyword": ["q"]}
