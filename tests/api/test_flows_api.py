"""Call flows over the API (issue #18): set, read, refuse with the step named, every
version kept, roll back; a member never reaches another advertiser's targets."""

from __future__ import annotations

import httpx

from backend.storage import SQLiteDatabase
from backend.telephony import flowdoc
from pool import numbers
from pool.store import now_ms
from tests.api.conftest import World

FLOW = {
    "start": "staff",
    "steps": {
        "staff": {"type": "ring", "mode": "sequential", "destinations": ["090-1111-0001"]},
    },
}


async def _target(db: SQLiteDatabase, site_id: int) -> int:
    return int(await db.fetchval("SELECT MIN(id) FROM targets WHERE site_id = :s", {"s": site_id}))


async def test_set_read_history_and_rollback(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase, app: object
) -> None:
    target = await _target(db, world.site_id)
    url = f"/api/targets/{target}/flow"
    empty = await client.get(url, headers=world.auth())
    assert empty.status_code == 200 and empty.json()["flow"] is None
    first = await client.put(url, json={"flow": FLOW, "note": "first"}, headers=world.auth())
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    # Numbers come back in E.164, as they are stored.
    assert first.json()["flow"]["steps"]["staff"]["destinations"] == ["090-1111-0001"]
    second_flow = {"start": "bye", "steps": {"bye": {"type": "hangup"}}}
    second = await client.put(url, json={"flow": second_flow}, headers=world.auth())
    assert second.json()["version"] == 2
    # The routing table of this instance follows at once.
    loaded = app.state.telephony.table.flow_of_target(target)  # type: ignore[attr-defined]
    assert loaded is not None and loaded.version == 2 and loaded.flow.start == "bye"
    versions = (await client.get(url + "/versions", headers=world.auth())).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["note"] == "first" and versions[0]["author"].startswith("user ")
    back = await client.post(url + "/rollback", json={"version": 1}, headers=world.auth())
    assert back.status_code == 200, back.text
    assert (back.json()["version"], back.json()["rolled_back_from"]) == (3, 1)
    now = (await client.get(url, headers=world.auth())).json()
    assert now["flow"] == FLOW and now["version"] == 3
    one = await client.get(url + "/versions/2", headers=world.auth())
    assert one.json()["flow"] == second_flow
    removed = await client.put(url, json={"flow": None}, headers=world.auth())
    assert removed.json()["flow"] is None
    assert app.state.telephony.table.flow_of_target(target) is None  # type: ignore[attr-defined]


async def test_a_bad_flow_is_refused_naming_the_step(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    target = await _target(db, world.site_id)
    url = f"/api/targets/{target}/flow"
    cases = [
        (
            {"start": "a", "steps": {"a": {"type": "ring", "destinations": ["nope"]}}},
            "steps.a.destinations[0].number",
        ),
        (
            {
                "start": "a",
                "steps": {"a": {"type": "ring", "destinations": ["0311112222"], "no_answer": "vm"}},
            },
            "steps.a.no_answer",
        ),
        (
            {
                "start": "m",
                "steps": {"m": {"type": "menu", "prompt": {"say": "x"}, "choices": {"5": "m"}}},
            },
            "steps.m.default",
        ),
        (
            {
                "start": "h",
                "steps": {"h": {"type": "schedule", "hours": {"mon": [["19:00", "09:00"]]}}},
            },
            "steps.h.hours.mon[0]",
        ),
        ({"start": "t", "steps": {"t": {"type": "sms"}}}, "steps.t.template"),
        (
            {"start": "t", "steps": {"t": {"type": "sms", "template": "{secret_key}"}}},
            "steps.t.template",
        ),
        (
            {"start": "t", "steps": {"t": {"type": "sms", "to": ["nope"], "template": "x"}}},
            "steps.t.to[0]",
        ),
        (
            {"start": "t", "steps": {"t": {"type": "sms", "to": "staff", "template": "x"}}},
            "steps.t.to",
        ),
        ({"start": "t", "steps": {"t": {"type": "nosuch"}}}, "steps.t.type"),
        ({"start": "x", "steps": {"y": {"type": "hangup"}}}, "start"),
    ]
    for flow, where in cases:
        r = await client.put(url, json={"flow": flow}, headers=world.auth())
        assert r.status_code == 422, (where, r.text)
        assert r.json()["error"]["field"] == where, r.text
    unknown = await client.put(url, json={"flow": cases[5][0]}, headers=world.auth())
    assert "unknown place {secret_key}" in unknown.json()["error"]["message"]
    for body in ({"flow": FLOW, "extra": 1}, {}, {"note": "no flow"}):
        assert (await client.put(url, json=body, headers=world.auth())).status_code == 422
    assert (await client.get(url + "/versions", headers=world.auth())).json()["versions"] == []
    bad = await client.post(url + "/rollback", json={"version": 9}, headers=world.auth())
    assert bad.status_code == 404


async def test_another_advertisers_target_is_not_found(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    theirs = await _target(db, world.site_id)
    member = world.auth(world.member_token)
    url = f"/api/targets/{theirs}/flow"
    assert (await client.get(url, headers=member)).status_code == 404
    assert (await client.put(url, json={"flow": FLOW}, headers=member)).status_code == 404
    assert (await client.get(url + "/versions", headers=member)).status_code == 404
    r = await client.post(url + "/rollback", json={"version": 1}, headers=member)
    assert r.status_code == 404


async def test_the_schema_is_published_and_accepts_the_documented_examples(
    client: httpx.AsyncClient,
) -> None:
    import jsonschema_rs  # schemathesis's validator (a dev dependency)

    document = (await client.get("/api/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "sms" in schemas["CallFlow"]["description"]
    validator = jsonschema_rs.Draft202012Validator(
        {**schemas["CallFlow"], "components": {"schemas": schemas}}
    )
    wrong = {"start": "a", "steps": {"a": {"type": "ring"}}}  # no destinations
    assert not validator.is_valid(wrong)
    from tests.telephony.test_flow_sms import SHOP
    from tests.telephony.test_flows import CLINIC, MENU

    for flow in (FLOW, CLINIC, MENU, SHOP):
        validator.validate(flow)
        flowdoc.parse(flow)


async def test_flows_per_tracking_number_and_source(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase, app: object
) -> None:
    target = await _target(db, world.site_id)
    number = await db.fetchval(
        "SELECT number FROM tracking_numbers WHERE advertiser_id = :a ORDER BY id LIMIT 1",
        {"a": world.advertiser_id},
    )
    theirs = "+815017009977"
    async with db.write() as tx:
        await numbers.add_number(
            tx,
            advertiser_id=world.other_advertiser_id,
            number=theirs,
            forward_to="+81311112222",
            kind="source",
            now_ms=now_ms(),
        )
    url = f"/api/targets/{target}/flow"
    own = await client.put(url, json={"flow": FLOW}, headers=world.auth())
    assert own.json()["version"] == 1 and own.json()["number"] == ""
    night = {"start": "bye", "steps": {"bye": {"type": "hangup"}}}
    r = await client.put(url, params={"number": number}, json={"flow": night}, headers=world.auth())
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["number"], r.json()["source"]) == (2, number, "")
    r = await client.put(
        url, params={"source": "チラシ"}, json={"flow": night}, headers=world.auth()
    )
    assert (r.json()["version"], r.json()["source"]) == (3, "チラシ")
    # Each flow reads back on its own; the target's is untouched.
    assert (await client.get(url, headers=world.auth())).json()["flow"] == FLOW
    scoped = await client.get(url, params={"number": number}, headers=world.auth())
    assert scoped.json()["flow"] == night
    unset = await client.get(url, params={"source": "雑誌"}, headers=world.auth())
    assert unset.status_code == 200 and unset.json()["flow"] is None
    assert unset.json()["source"] == "雑誌"
    listed = (await client.get(f"/api/targets/{target}/flows", headers=world.auth())).json()
    assert [(f["number"], f["source"]) for f in listed["flows"]] == [(number, ""), ("", "チラシ")]
    versions = await client.get(url + "/versions", params={"number": number}, headers=world.auth())
    assert [v["version"] for v in versions.json()["versions"]] == [2]
    table = app.state.telephony.table  # type: ignore[attr-defined]
    number_id = await db.fetchval(
        "SELECT id FROM tracking_numbers WHERE number = :n", {"n": number}
    )
    assert table.flow_of_target(target, f"n:{number_id}").version == 2
    assert table.flow_of_target(target, "s:チラシ").version == 3
    # Roll back version 2 (the number's): back in the number's flow, not the target's.
    await client.put(url, params={"number": number}, json={"flow": None}, headers=world.auth())
    back = await client.post(url + "/rollback", json={"version": 2}, headers=world.auth())
    assert (back.json()["version"], back.json()["number"]) == (5, number)
    assert (await client.get(url, headers=world.auth())).json()["version"] == 1
    # Refused: another advertiser's number, both at once, nonsense.
    for params, field in (
        ({"number": theirs}, "number"),
        ({"number": "not a number"}, "number"),
        ({"number": number, "source": "x"}, "scope"),
        ({"source": "x" * 61}, "source"),
        ({"source": "x" * 101}, "source"),
    ):
        r = await client.put(url, params=params, json={"flow": night}, headers=world.auth())
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field
        r = await client.get(url, params=params, headers=world.auth())
        assert r.status_code == 422, (params, r.text)
    member = world.auth(world.member_token)
    assert (await client.get(f"/api/targets/{target}/flows", headers=member)).status_code == 404
