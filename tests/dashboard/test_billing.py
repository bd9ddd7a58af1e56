"""Billing pages (issue #20): a member's statement, CSV and disputes, the portal's decisions,
closing and sending a month, plans and revenue; another advertiser's are never shown."""

from __future__ import annotations

import re

import httpx

from attribution.billing.money import month_of, previous_month
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _month(db: Store, call_id: int) -> str:
    started = await db.fetchval("SELECT started_ms FROM calls WHERE id = :c", {"c": call_id})
    return month_of(int(started), "Asia/Tokyo")


async def test_a_member_reads_its_statement_and_disputes_a_call_the_portal_accepts(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    month = await _month(db, seeded.calls_a[0])
    csrf = await login(client, seeded.member_a, PASSWORD)
    # The portal's default plan: 3,000 a call of 60 s or more, 10,000 a month. A's month
    # has its Google call (120 s) billed; the Yahoo! one (20 s) is too short.
    r = await client.get(f"/dashboard/billing/statement?month={month}")
    assert r.status_code == 200
    assert 'id="taxable">¥13,000<' in r.text and 'id="tax">¥1,300<' in r.text
    assert 'id="total">¥14,300<' in r.text
    assert "Too short: 1" in r.text and "Rival" not in r.text
    csv = await client.get(f"/dashboard/billing/statement.csv?month={month}")
    assert csv.headers["content-type"] == "text/csv; charset=shift_jis"
    assert b"Total,14300\r\n" in csv.content
    for url in (
        f"/dashboard/billing/statement?advertiser={seeded.adv_b}&month={month}",
        f"/dashboard/billing/statement.csv?advertiser={seeded.adv_b}&month={month}",
    ):
        assert (await client.get(url)).status_code == 404, url
    listed = await client.get(f"/dashboard/billing?month={month}")
    assert listed.status_code == 200 and "Rival" not in listed.text
    assert (await client.get("/dashboard/billing/revenue")).status_code == 403
    plans = await client.get("/dashboard/billing/plans")
    assert "standard" in plans.text and "Rival" not in plans.text
    assert 'id="plan-form"' not in plans.text  # members read plans, the portal adds them

    # A dispute from the call page, with the reason; one open at a time; not of B's calls.
    call = seeded.calls_a[0]
    r = await client.post(
        f"/dashboard/calls/{call}/dispute", data={"csrf": csrf, "reason": "営業電話でした"}
    )
    assert r.status_code == 303
    page = await client.get(f"/dashboard/calls/{call}")
    assert "営業電話でした" in page.text and 'id="dispute-form"' not in page.text
    again = await client.post(
        f"/dashboard/calls/{call}/dispute", data={"csrf": csrf, "reason": "x"}
    )
    assert again.status_code == 422 and 'id="dispute-error"' in again.text
    other = await client.post(
        f"/dashboard/calls/{seeded.calls_b[0]}/dispute", data={"csrf": csrf, "reason": "x"}
    )
    assert other.status_code == 404
    disputes = await client.get("/dashboard/billing/disputes")
    assert "営業電話でした" in disputes.text and "Rival" not in disputes.text
    refused = await client.post(
        "/dashboard/billing/disputes", data={"csrf": csrf, "dispute": "1", "decision": "accepted"}
    )
    assert refused.status_code == 403

    # The portal rejects without a note (refused), then accepts: the call is not billed.
    csrf = await login(client, seeded.admin, PASSWORD)
    dispute = await db.fetchval("SELECT id FROM billing_disputes WHERE call_id = :c", {"c": call})
    r = await client.post(
        "/dashboard/billing/disputes",
        data={"csrf": csrf, "dispute": str(dispute), "decision": "rejected", "note": ""},
    )
    assert r.status_code == 422 and f'id="note-error-{dispute}"' in r.text
    r = await client.post(
        "/dashboard/billing/disputes",
        data={"csrf": csrf, "dispute": str(dispute), "decision": "accepted", "note": "確認済み"},
    )
    assert r.status_code == 303
    r = await client.get(f"/dashboard/billing/statement?advertiser={seeded.adv_a}&month={month}")
    assert 'id="taxable">¥10,000<' in r.text and "Dispute accepted: 1" in r.text
    trail = await client.get("/dashboard/billing/disputes")
    assert "Dispute accepted" in trail.text and "Dispute opened" in trail.text
    # In the viewer's language: it was the stored codes (dispute open) in Japanese too.
    ja = await client.get("/dashboard/billing/disputes", headers={"Accept-Language": "ja"})
    assert "申し立てを承認" in ja.text and "申し立てを受付" in ja.text
    assert "dispute open" not in ja.text and "dispute accepted" not in ja.text
    # This month is not over: it cannot close.
    r = await client.post(
        "/dashboard/billing/statement/close",
        data={"csrf": csrf, "advertiser": str(seeded.adv_a), "month": month},
    )
    assert r.status_code == 409 and "This month cannot be closed now" in r.text


async def test_the_portal_closes_and_sends_a_month_adds_plans_and_reads_revenue(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    month = previous_month(await _month(db, seeded.calls_a[0]))
    csrf = await login(client, seeded.admin, PASSWORD)
    form = {"csrf": csrf, "advertiser": str(seeded.adv_b), "month": month}
    r = await client.post("/dashboard/billing/statement/close", data=form)
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "Closed" in page.text and 'id="send-form"' in page.text and "Rival Clinic" in page.text
    assert (await client.post("/dashboard/billing/statement/send", data=form)).status_code == 303
    page = await client.get(f"/dashboard/billing/statement?advertiser={seeded.adv_b}&month={month}")
    assert "Sent" in page.text and 'id="send-form"' not in page.text
    # B's month: the fee of its own plan (10,000) and nothing else; tax 1,000.
    assert 'id="total">¥11,000<' in page.text

    bad = {"csrf": csrf, "advertiser": "default", "effective_from": "2026-02-30", "price_0": "100"}
    r = await client.post("/dashboard/billing/plans", data=bad)
    assert r.status_code == 422 and 'id="plan-error"' in r.text
    target = await db.fetchval("SELECT id FROM targets WHERE site_id = :s", {"s": seeded.site_a})
    good = {**bad, "effective_from": "2030-01-01", "label": "2030 plan", "kind_0": "minute"}
    good.update(advertiser=str(seeded.adv_a), target_0=str(target))
    assert (await client.post("/dashboard/billing/plans", data=good)).status_code == 303
    price = await db.fetchone("SELECT kind, target_id FROM billing_prices ORDER BY id DESC LIMIT 1")
    assert price is not None and (price["kind"], price["target_id"]) == ("minute", target)
    plans = await client.get("/dashboard/billing/plans")
    assert "2030 plan" in plans.text and "Per answered minute" in plans.text

    revenue = await client.get(f"/dashboard/billing/revenue?month={month}")
    assert revenue.status_code == 200 and "Rival Clinic" in revenue.text
    assert "¥10,000" in revenue.text
    await client.post("/dashboard/locale", data={"csrf": csrf, "lang": "ja", "next": "/dashboard"})
    ja = await client.get(f"/dashboard/billing/statement?advertiser={seeded.adv_b}&month={month}")
    assert "消費税" in ja.text and "登録番号" in ja.text and "送付済み" in ja.text
