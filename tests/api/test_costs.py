"""Cost import and cost per call through the API, on both stores (issue #23).

The test's figures are computed by hand from tests/attribution/cost_files.py and the calls
seeded below; the report must give them to the yen.
"""

from __future__ import annotations

from typing import Any

import httpx

from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms
from tests.attribution import cost_files

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31", "tz": "Asia/Tokyo"}


async def _import(
    client: httpx.AsyncClient,
    w: World,
    platform: str,
    body: bytes,
    token: str | None = None,
    **params: Any,
) -> httpx.Response:
    """POST a report as ``token`` (default: the administrator's, for the demo advertiser)."""
    scope = {} if token else {"advertiser_id": w.advertiser_id}
    return await client.post(
        "/api/costs/imports",
        params={"platform": platform, **scope, **params},
        content=body,
        headers={**w.auth(token), "Content-Type": "text/csv"},
    )


async def _october_calls(db: SQLiteDatabase, w: World) -> None:
    """Three calls from Google 歯医者 渋谷 (two qualified, one worth 50,000 yen) tagged with
    the campaign's id, one from Yahoo! 歯医者 渋谷, and one from organic search."""

    def paid(source: str, campaign: str, keyword: str, **click: str) -> dict[str, str]:
        return dict(
            channel="paid_search",
            source=source,
            medium="cpc",
            campaign=campaign,
            keyword=keyword,
            **click,
        )

    # A full-width space in the keyword, as a phone's keyboard types it.
    google_click = paid("google", "123456789", "歯医者　渋谷", match_type="e", gclid="g-shibuya")
    google = await w.add_session(db, jst_ms(2026, 10, 5, 10, 0), **google_click)
    await w.add_call(db, jst_ms(2026, 10, 5, 10, 3), session_id=google, value_yen=50_000)
    await w.add_call(db, jst_ms(2026, 10, 6, 11, 0), session_id=google)
    await w.add_call(db, jst_ms(2026, 10, 7, 12, 0), session_id=google, qualified=0)
    yahoo_click = paid("yahoo", "渋谷院", "歯医者 渋谷", yclid="YSS.1.shibuya")
    yahoo = await w.add_session(db, jst_ms(2026, 10, 5, 18, 0), **yahoo_click)
    await w.add_call(db, jst_ms(2026, 10, 5, 18, 2), session_id=yahoo)
    organic = await w.add_session(
        db, jst_ms(2026, 10, 8, 9, 0), channel="organic_search", source="google", medium="organic"
    )
    await w.add_call(db, jst_ms(2026, 10, 8, 9, 5), session_id=organic)


def _row(data: list[dict[str, Any]], **match: str) -> dict[str, Any]:
    found = [r for r in data if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, data)
    return found[0]


async def test_cost_per_qualified_call_of_a_keyword_from_google_and_yahoo_files(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    w = world
    await _october_calls(db, w)
    google = await _import(client, w, "google", cost_files.google_excel_csv(), filename="kw.csv")
    assert google.status_code == 201, google.text
    assert google.json() | {"id": 0, "created_ms": 0} == {
        "id": 0,
        "advertiser_id": w.advertiser_id,
        "site_id": None,
        "platform": "google",
        "filename": "kw.csv",
        "encoding": "utf-16",
        "currency": "JPY",
        "rows": 4,
        "skipped_rows": 2,
        "first_day": "2026-10-05",
        "last_day": "2026-10-07",
        "cost": 28_000,
        "created_ms": 0,
        "created_by": google.json()["created_by"],
    }
    yahoo = await _import(client, w, "yahoo", cost_files.yahoo_csv())
    assert yahoo.status_code == 201, yahoo.text
    assert yahoo.json()["encoding"] == "cp932"

    got = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "keyword"}, headers=w.auth()
    )
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    # Google 歯医者 渋谷: exact 12,000 + 8,000 and phrase 5,000 = 25,000 yen; 3 calls, 2
    # qualified: 8,333 a call (25,000 / 3 = 8,333.3), 12,500 a qualified call; the calls'
    # value 50,000 is a ROAS of 200 %.
    assert _row(data, source="google", keyword="歯医者 渋谷") == {
        "source": "google",
        "campaign": "",
        "keyword": "歯医者 渋谷",
        "match_type": "",
        "impressions": 3_400,
        "clicks": 120,
        "cost": 25_000,
        "calls": 3,
        "qualified_calls": 2,
        "cost_per_call": 8_333,
        "cost_per_qualified_call": 12_500,
        "value": 50_000,
        "roas": 200.0,
    }
    # Yahoo!'s row of the same keyword stays apart: 4,000 yen, one qualified call.
    yahoo_row = _row(data, source="yahoo", keyword="歯医者 渋谷")
    assert (yahoo_row["cost"], yahoo_row["calls"], yahoo_row["cost_per_qualified_call"]) == (
        4_000,
        1,
        4_000,
    )
    # A keyword with cost and no calls; organic calls have a row without cost.
    assert _row(data, source="google", keyword="インプラント")["cost_per_call"] is None
    organic = _row(data, source="google", keyword="")
    assert (organic["cost"], organic["calls"], organic["roas"]) == (0, 1, None)
    total = got.json()["total"]
    assert (total["cost"], total["calls"], total["qualified_calls"]) == (33_500, 5, 4)

    # By campaign: the calls tagged with the campaign's id join the name the report gave it.
    by_campaign = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "campaign"}, headers=w.auth()
    )
    shibuya = _row(by_campaign.json()["data"], source="google", campaign="渋谷院")
    assert (shibuya["cost"], shibuya["calls"], shibuya["cost_per_qualified_call"]) == (
        28_000,
        3,
        14_000,
    )
    # By keyword and match type: the exact rows only (12,000 + 8,000) for the exact calls.
    by_match = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "keyword_match"}, headers=w.auth()
    )
    exact = _row(by_match.json()["data"], source="google", keyword="歯医者 渋谷", match_type="e")
    assert (exact["cost"], exact["calls"], exact["cost_per_qualified_call"]) == (20_000, 3, 10_000)


async def test_importing_a_report_again_replaces_its_days_never_adds_them(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    w = world
    for _ in range(2):
        assert (
            await _import(client, w, "google", cost_files.google_excel_csv())
        ).status_code == 201
    got = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "source"}, headers=w.auth()
    )
    assert _row(got.json()["data"], source="google")["cost"] == 28_000
    listed = await client.get("/api/costs/imports", headers=w.auth())
    assert [i["platform"] for i in listed.json()["data"]] == ["google", "google"]


async def test_a_bad_file_is_refused_with_its_rows_and_nothing_is_stored(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    w = world
    bad = b"Day,Keyword,Cost\r\n2026-10-01,a,100\r\n2026-10-99,b,100\r\n"
    refused = await _import(client, w, "google", bad)
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"]["code"] == "invalid_cost_file"
    assert body["error"]["errors"] == [
        {"row": 3, "field": "day", "reason": body["error"]["errors"][0]["reason"]}
    ]
    assert await db.fetchval("SELECT COUNT(*) FROM ad_costs") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM ad_cost_imports") == 0
    unknown = await _import(client, w, "linkedin", cost_files.yahoo_csv())
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "platform"


async def test_costs_stay_within_their_advertiser(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    w = world
    assert (await _import(client, w, "yahoo", cost_files.yahoo_csv())).status_code == 201
    member = w.auth(w.member_token)
    # The member (of the other advertiser) cannot import for the first one...
    yahoo = cost_files.yahoo_csv()
    refused = await _import(
        client, w, "yahoo", yahoo, w.member_token, advertiser_id=w.advertiser_id
    )
    assert refused.status_code == 403
    # ...nor into another advertiser's site, and sees none of its imports or cost.
    wrong_site = await _import(client, w, "yahoo", yahoo, w.member_token, site_id=w.site_id)
    assert wrong_site.status_code == 404
    assert (await client.get("/api/costs/imports", headers=member)).json()["data"] == []
    report = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "source"}, headers=member
    )
    assert report.json()["total"]["cost"] == 0
    # Their own import, for their own site, is theirs only.
    microsoft = cost_files.microsoft_csv()
    own = await _import(client, w, "microsoft", microsoft, w.member_token, site_id=w.other_site_id)
    assert own.status_code == 201, own.text
    mine = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "source"}, headers=member
    )
    assert _row(mine.json()["data"], source="bing")["cost"] == 1_501  # 1,500.50 rounded up
    theirs = await client.get(
        "/api/reports/costs", params={**OCTOBER, "level": "source"}, headers=w.auth()
    )
    assert {r["source"] for r in theirs.json()["data"] if r["cost"]} == {"yahoo", "bing"}
    first_only = await client.get(
        "/api/reports/costs",
        params={**OCTOBER, "level": "source", "advertiser_id": w.advertiser_id},
        headers=w.auth(),
    )
    assert {r["source"] for r in first_only.json()["data"] if r["cost"]} == {"yahoo"}
