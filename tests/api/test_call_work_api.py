"""Working calls through the API (issue #17): the same checks and audit as the call page."""

from __future__ import annotations

import httpx
import orjson

from attribution import call_work as cw
from backend import accounts
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World


async def test_a_token_works_a_call_and_reads_it_back(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    call = world.calls["yahoo"]
    outcomes = (
        await client.get(f"/api/outcomes?advertiser_id={world.advertiser_id}", headers=world.auth())
    ).json()["data"]
    assert [o["label"] for o in outcomes] == ["@won", "@open", "@lost"]
    won = outcomes[0]["id"]
    body = {
        "qualified": True,
        "qualified_reason": "booked",
        "tags": ["implant", "予約"],
        "note": "call back Tuesday",
        "outcome_id": won,
        "value_yen": 12000,
    }
    r = await client.patch(f"/api/calls/{call}/work", json=body, headers=world.auth())
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["qualified"] is True and got["qualified_by_hand"] is True
    assert got["tags"] == ["implant", "予約"] and got["value_yen"] == 12000
    assert got["outcome_id"] == won
    assert {a["field"] for a in got["audit"]} >= {"qualified_reason", "tags", "note", "value_yen"}
    assert all(a["actor"].startswith("user ") for a in got["audit"])
    again = await client.get(f"/api/calls/{call}/work", headers=world.auth())
    assert again.json() == got
    # The exports carry it too.
    export = await client.get(
        "/api/exports/paths?start=2026-11-01&end=2026-11-30&format=ndjson", headers=world.auth()
    )
    line = next(orjson.loads(x) for x in export.text.splitlines() if f'"call_id":{call},' in x)
    assert (line["outcome"], line["outcome_kind"], line["tags"]) == ("won", "won", "implant, 予約")
    assert line["value_yen"] == 12000 and line["qualified_by_hand"] == 1
    # Only what is given changes; null hands the verdict back to the rules.
    r = await client.patch(
        f"/api/calls/{call}/work", json={"qualified": None}, headers=world.auth()
    )
    assert r.json()["qualified_by_hand"] is None and r.json()["note"] == "call back Tuesday"


async def test_bad_values_and_other_advertisers_are_refused(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    call = world.calls["google"]
    for body, field in (
        ({"qualified": False}, "qualified_reason"),
        ({"value_yen": -1}, "value_yen"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"note": 5}, "note"),
        ({"outcome_id": 999999}, "outcome_id"),
        ({"sneaky": 1}, "sneaky"),
    ):
        r = await client.patch(f"/api/calls/{call}/work", json=body, headers=world.auth())
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert (await cw.read_work(db, call)).audit == []
    # The member token of the other advertiser: the call does not exist for it, and its own
    # advertiser's outcome list is the only one it reaches.
    member = world.auth(world.member_token)
    assert (await client.get(f"/api/calls/{call}/work", headers=member)).status_code == 404
    r = await client.patch(f"/api/calls/{call}/work", json={"note": "x"}, headers=member)
    assert r.status_code == 404
    r = await client.get(f"/api/outcomes?advertiser_id={world.advertiser_id}", headers=member)
    assert r.status_code == 403
    assert (await client.get("/api/outcomes", headers=member)).status_code == 200


async def test_read_only_tokens_cannot_work_calls_and_outcomes_can_be_added(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    async with db.write() as tx:
        user = await tx.fetchval("SELECT id FROM users WHERE role = 'admin' LIMIT 1")
        token = await accounts.create_api_token(
            tx, user_id=user, advertiser_id=None, name="ro", now_ms=now_ms(), read_only=True
        )
    r = await client.patch(
        f"/api/calls/{world.calls['google']}/work",
        json={"note": "x"},
        headers=world.auth(token),
    )
    assert r.status_code == 403
    url = f"/api/outcomes?advertiser_id={world.advertiser_id}"
    r = await client.post(url, json={"label": "NG: 価格", "kind": "lost"}, headers=world.auth())
    assert r.status_code == 201 and r.json()["kind"] == "lost"
    dup = await client.post(url, json={"label": "NG: 価格", "kind": "lost"}, headers=world.auth())
    assert dup.status_code == 422 and dup.json()["error"]["field"] == "label"
    assert (await client.get("/api/outcomes", headers=world.auth())).status_code == 422
