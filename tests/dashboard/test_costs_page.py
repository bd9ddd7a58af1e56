"""The cost page: import a report in the browser's form, see cost per call, within scope."""

from __future__ import annotations

import httpx

from pool.store import Store
from tests.attribution import cost_files
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded

OCTOBER = "from=2026-10-01&to=2026-10-31"


async def _upload(
    client: httpx.AsyncClient, csrf: str, body: bytes, **fields: str
) -> httpx.Response:
    return await client.post(
        "/dashboard/costs/import",
        data={"csrf": csrf, "filename": "report.csv", **fields},
        files={"file": ("report.csv", body, "text/csv")},
    )


async def test_a_member_imports_a_yahoo_report_and_sees_its_cost(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    page = await client.get("/dashboard/costs")
    assert page.status_code == 200
    assert 'id="cost-form"' in page.text and 'id="cost-imports-empty"' in page.text
    done = await _upload(client, csrf, cost_files.yahoo_csv(), platform="yahoo")
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/dashboard/costs?imported=")
    imported = await db.fetchall("SELECT advertiser_id, platform, rows FROM ad_cost_imports")
    assert [dict(r) for r in imported] == [
        {"advertiser_id": seeded.adv_a, "platform": "yahoo", "rows": 2}
    ]
    report = await client.get(f"/dashboard/costs?{OCTOBER}&by=source")
    assert report.status_code == 200
    assert 'id="cost-report"' in report.text and "5,500" in report.text
    # The other advertiser's member sees neither the import nor the cost.
    await client.post("/logout", data={"csrf": csrf})
    await login(client, seeded.member_b, PASSWORD)
    theirs = await client.get(f"/dashboard/costs?{OCTOBER}&by=source")
    assert "5,500" not in theirs.text and 'id="cost-imports-empty"' in theirs.text


async def test_a_refused_file_comes_back_on_the_page_with_its_reason(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    bad = b"Campaign,Keyword,Cost\r\nA,b,100\r\n"
    refused = await _upload(client, csrf, bad, platform="google")
    assert refused.status_code == 422
    assert "day segment" in refused.text and 'id="cost-form"' in refused.text
    assert await db.fetchval("SELECT COUNT(*) FROM ad_cost_imports") == 0
    unknown = await _upload(client, csrf, cost_files.yahoo_csv(), platform="nope")
    assert unknown.status_code == 422
    no_csrf = await client.post(
        "/dashboard/costs/import",
        data={"platform": "yahoo"},
        files={"file": ("r.csv", cost_files.yahoo_csv(), "text/csv")},
    )
    assert no_csrf.status_code == 403


async def test_an_administrator_imports_for_the_advertiser_chosen(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    missing = await _upload(client, csrf, cost_files.google_excel_csv(), platform="google")
    assert missing.status_code == 422  # an administrator must say whose cost it is

    async def google_for(advertiser: int, site: int) -> httpx.Response:
        report = cost_files.google_excel_csv()
        choice = {"advertiser": str(advertiser), "site": str(site)}
        return await _upload(client, csrf, report, platform="google", **choice)

    done = await google_for(seeded.adv_b, seeded.site_b)
    assert done.status_code == 303, done.text
    row = await db.fetchone("SELECT advertiser_id, site_id, encoding FROM ad_cost_imports")
    assert row is not None
    assert (row["advertiser_id"], row["site_id"], row["encoding"]) == (
        seeded.adv_b,
        seeded.site_b,
        "utf-16",
    )
    wrong_site = await google_for(seeded.adv_a, seeded.site_b)
    assert wrong_site.status_code == 422
    for level in ("source", "campaign", "keyword", "keyword_match"):
        shown = await client.get(f"/dashboard/costs?{OCTOBER}&by={level}")
        assert shown.status_code == 200, level
    assert (await client.get("/dashboard/costs?by=nope")).status_code == 400
