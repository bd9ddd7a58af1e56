"""Billing through the API (issue #20): plans, a statement to the yen, CSV, closing and
the lock, disputes, and an advertiser's token seeing only its own."""

from __future__ import annotations

import httpx

from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms

OCT = "2026-10"


async def month_of_calls(db: SQLiteDatabase, world: World) -> dict[str, int]:
    """October: a 80 s call (2 minutes), the same caller again the next day (a repeat) and
    a 30 s call (too short)."""
    calls = {}
    for name, day, caller, talk in (
        ("a1", 5, "+81311110001", 80),
        ("a2", 6, "+81311110001", 95),
        ("a3", 7, "+81311110002", 30),
    ):
        at = jst_ms(2026, 10, day, 11, 0)
        calls[name] = await world.add_call(
            db, at, caller=caller, talk_s=talk, answered_ms=at + 3000
        )
    return calls


PLAN = {
    "advertiser_id": None,  # set per test
    "effective_from": "2026-10-01",
    "label": "Rival-free plan",
    "min_talk_s": 60,
    "repeat_days": 30,
    "prices": [{"kind": "call", "price_yen": 2000}, {"kind": "minute", "price_yen": 33}],
}


async def test_a_statement_through_the_api_closes_and_stays_as_closed(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    calls = await month_of_calls(db, world)
    admin = world.auth()
    r = await client.post(
        "/api/billing/plans", json={**PLAN, "advertiser_id": world.advertiser_id}, headers=admin
    )
    assert r.status_code == 201, r.text
    query = f"advertiser_id={world.advertiser_id}&month={OCT}"
    got = (await client.get(f"/api/billing/statement?{query}", headers=admin)).json()
    assert got["status"] == "open"
    body = got["statement"]
    # a1: 2,000 + 2 minutes × 33 = 2,066; tax 206.6 → 206 (down); 2,272 in all.
    assert [(line["id"], line["amount_yen"]) for line in body["lines"]] == [(calls["a1"], 2066)]
    assert (body["taxable_yen"], body["tax_yen"], body["total_yen"]) == (2066, 206, 2272)
    assert body["not_billed"] == {"repeat_caller": 1, "too_short": 1}
    events = (await client.get(f"/api/billing/events?{query}", headers=admin)).json()["data"]
    assert [(e["id"], e["reason"]) for e in events] == [
        (calls["a1"], "billable"), (calls["a2"], "repeat_caller"), (calls["a3"], "too_short"),
    ]  # fmt: skip

    csv = await client.get(
        f"/api/billing/statement?{query}&format=csv&encoding=excel", headers=admin
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    # Excel in Japanese: Shift_JIS, as every character of the statement fits it.
    assert csv.headers["content-type"] == "text/csv; charset=shift_jis"
    text = csv.content.decode("cp932")
    assert f",call,{calls['a1']},+815017000001,,,80,2,2066\r\n" in text
    assert "Consumption tax (10%),206\r\nTotal,2272\r\n" in text

    r = await client.post(f"/api/billing/statement/close?{query}", headers=admin)
    assert r.status_code == 201, r.text
    again = await client.post(f"/api/billing/statement/close?{query}", headers=admin)
    assert again.status_code == 409
    closed_json = (await client.get(f"/api/billing/statement?{query}", headers=admin)).content
    closed_csv = (
        await client.get(f"/api/billing/statement?{query}&format=csv", headers=admin)
    ).content

    # After closing, a1 is disqualified by hand and the plan changes from 1 October.
    r = await client.patch(
        f"/api/calls/{calls['a1']}/work",
        json={"qualified": False, "qualified_reason": "test call"},
        headers=admin,
    )
    assert r.status_code == 200
    cheaper = {
        **PLAN,
        "advertiser_id": world.advertiser_id,
        "prices": [{"kind": "call", "price_yen": 1500}],
    }
    assert (await client.post("/api/billing/plans", json=cheaper, headers=admin)).status_code == 201
    assert (
        await client.get(f"/api/billing/statement?{query}", headers=admin)
    ).content == closed_json
    assert (
        await client.get(f"/api/billing/statement?{query}&format=csv", headers=admin)
    ).content == closed_csv
    # November carries it: a1 −2,066; a2 is no longer a repeat of a1: +1,500 (the new plan).
    nov = (
        await client.get(
            f"/api/billing/statement?advertiser_id={world.advertiser_id}&month=2026-11",
            headers=admin,
        )
    ).json()["statement"]
    assert {a["key"]: a["amount_yen"] for a in nov["adjustments"]} == {
        f"call:{calls['a1']}": -2066,
        f"call:{calls['a2']}": 1500,
    }
    r = await client.post(f"/api/billing/statement/send?{query}", headers=admin)
    assert r.json()["status"] == "sent" and r.content != closed_json
    assert (
        r.json()["statement"]
        == (await client.get(f"/api/billing/statement?{query}", headers=admin)).json()["statement"]
    )
    audit = (await client.get("/api/billing/audit", headers=admin)).json()["data"]
    assert [a["action"] for a in audit][:3] == ["send", "add", "close"]


async def test_an_advertisers_token_sees_only_its_own_billing(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    calls = await month_of_calls(db, world)
    admin, member = world.auth(), world.auth(world.member_token)
    mine, theirs = world.other_advertiser_id, world.advertiser_id
    for plan in (
        {**PLAN, "advertiser_id": theirs},
        {**PLAN, "advertiser_id": None, "label": "default"},
    ):
        assert (
            await client.post("/api/billing/plans", json=plan, headers=admin)
        ).status_code == 201
    # The member's token: its own plan view (the default applies), never the other's.
    got = (await client.get("/api/billing/plans", headers=member)).json()["data"]
    assert [p["label"] for p in got] == ["default"]
    assert (
        await client.get(f"/api/billing/plans?advertiser_id={theirs}", headers=member)
    ).status_code == 403
    for path in ("statement", "events"):
        r = await client.get(
            f"/api/billing/{path}?advertiser_id={theirs}&month={OCT}", headers=member
        )
        assert r.status_code == 403, path
    listed = (await client.get(f"/api/billing/statements?month={OCT}", headers=member)).json()[
        "data"
    ]
    assert [s["advertiser_id"] for s in listed] == [mine]
    own = (await client.get(f"/api/billing/statement?month={OCT}", headers=member)).json()
    assert own["advertiser_id"] == mine
    # Disputes: not of another advertiser's call; its own, yes; decided by the portal only.
    r = await client.post(
        f"/api/calls/{calls['a1']}/disputes", json={"reason": "x"}, headers=member
    )
    assert r.status_code == 404
    admin_dispute = await client.post(
        f"/api/calls/{calls['a1']}/disputes", json={"reason": "営業電話"}, headers=admin
    )
    assert admin_dispute.status_code == 201
    r = await client.post(
        f"/api/calls/{world.calls['other']}/disputes", json={"reason": "間違い電話"}, headers=member
    )
    assert r.status_code == 201, r.text
    own_dispute = r.json()["id"]
    seen = (await client.get("/api/billing/disputes", headers=member)).json()["data"]
    assert [d["id"] for d in seen] == [own_dispute]
    assert len((await client.get("/api/billing/disputes", headers=admin)).json()["data"]) == 2
    decision = {"decision": "accepted", "note": ""}
    r = await client.post(
        f"/api/billing/disputes/{own_dispute}/decision", json=decision, headers=member
    )
    assert r.status_code == 403
    trail = (await client.get("/api/billing/audit", headers=member)).json()["data"]
    assert trail and all(a["advertiser_id"] == mine for a in trail)
    assert (await client.get("/api/billing/revenue", headers=member)).status_code == 403
    assert (
        await client.post(f"/api/billing/statement/close?month={OCT}", headers=member)
    ).status_code == 403
    # The open dispute keeps October of the other advertiser from closing unless forced.
    theirs_q = f"advertiser_id={theirs}&month={OCT}"
    assert (
        await client.post(f"/api/billing/statement/close?{theirs_q}", headers=admin)
    ).status_code == 409
    r = await client.post(f"/api/billing/statement/close?{theirs_q}&force=true", headers=admin)
    assert r.status_code == 201 and r.json()["forced"] is True
    revenue = (
        await client.get(f"/api/billing/revenue?month={OCT}&months=2", headers=admin)
    ).json()["data"]
    cell = next(c for c in revenue if c["advertiser_id"] == theirs and c["month"] == OCT)
    assert (cell["status"], cell["billable"], cell["amount_yen"]) == ("closed", 1, 2066)
    assert cell["change_yen"] == 2066 and cell["change_percent"] is None


async def test_bad_billing_input_is_a_4xx(client: httpx.AsyncClient, world: World) -> None:
    admin = world.auth()
    for url in (
        "/api/billing/statement?month=2026-13",
        f"/api/billing/statement?advertiser_id={world.advertiser_id}&month=26-1",
        "/api/billing/statement?advertiser_id=999999&month=2026-10",
        "/api/billing/statement",  # an administrator names the advertiser
        "/api/billing/disputes?status=maybe",
        "/api/billing/revenue?months=99",
    ):
        r = await client.get(url, headers=admin)
        assert 400 <= r.status_code < 500, (url, r.text)
    for body in (
        {"effective_from": "2026-02-30"},
        {"effective_from": "2026-02-01", "prices": [{"kind": "call", "price_yen": -1}]},
        {"effective_from": "2026-02-01", "prices": [{"kind": "free", "price_yen": 1}]},
        {"effective_from": "2026-02-01", "monthly_fee_yen": 1.5},
        {"effective_from": "2026-02-01", "advertiser_id": 999999},
        {"effective_from": "2026-02-01", "surprise": 1},
    ):
        r = await client.post("/api/billing/plans", json=body, headers=admin)
        assert 400 <= r.status_code < 500, (body, r.text)
    r = await client.post(
        "/api/billing/disputes/999999/decision", json={"decision": "accepted"}, headers=admin
    )
    assert r.status_code == 404
