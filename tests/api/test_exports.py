"""Session-to-call path exports: shapes, filters, masking, streaming through the API."""

from __future__ import annotations

import csv
import io

import httpx
import orjson

from attribution.exports import ExportFilter, mask_caller, stream_paths
from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms

NOV = ExportFilter(start_ms=jst_ms(2026, 11, 1), end_ms=jst_ms(2026, 12, 1))


async def collect(db: SQLiteDatabase, flt: ExportFilter = NOV, **kw: object) -> bytes:
    return b"".join([chunk async for chunk in stream_paths(db, flt, **kw)])  # type: ignore[arg-type]


def test_mask_caller_keeps_country_code_and_last_four() -> None:
    assert mask_caller("+819012345678") == "+81******5678"
    assert mask_caller("+12125550100") == "+1******0100"
    assert mask_caller("anonymous") == "anonymous"
    assert mask_caller("") == ""


async def test_wide_csv_one_row_per_call_with_path(db: SQLiteDatabase, world: World) -> None:
    text = (await collect(db)).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 7
    by_id = {int(r["call_id"]): r for r in rows}
    g = by_id[world.calls["google"]]
    assert g["path"] == (
        "https://demo.example/ > https://demo.example/implant > https://demo.example/access"
    )
    assert g["page_count"] == "3"
    assert g["keyword"] == "インプラント 東京" and g["gclid"] == "Cj0KCQ-test-gclid"
    assert g["match_method"] == "lease" and g["device"] == "mobile" and g["city"] == "Shinjuku"
    assert g["started_at"] == "2026-11-10T10:02:30+09:00"
    assert g["caller"] == "+81******5678"  # masked by default
    assert g["qualified"] == "1"
    u = by_id[world.calls["unmatched"]]
    assert u["session_id"] == "" and u["path"] == "" and u["match_method"] == "none"
    # The later call of the same session sees the page viewed after the first call too.
    assert by_id[world.calls["unqualified"]]["page_count"] == "4"


async def test_long_ndjson_one_row_per_page_view(db: SQLiteDatabase, world: World) -> None:
    lines = (await collect(db, fmt="ndjson", form="long", show_callers=True)).splitlines()
    rows = [orjson.loads(line) for line in lines]
    google = [r for r in rows if r["call_id"] == world.calls["google"]]
    assert [r["step"] for r in google] == [1, 2, 3]
    assert google[1]["url"] == "https://demo.example/implant"
    assert google[1]["title"] == "インプラント"
    assert google[0]["viewed_at"] == "2026-11-10T10:00:00+09:00"
    assert google[0]["caller"] == "+819012345678"  # shown when allowed
    unmatched = [r for r in rows if r["call_id"] == world.calls["unmatched"]]
    assert len(unmatched) == 1 and unmatched[0]["url"] is None and unmatched[0]["step"] is None


async def test_filters(db: SQLiteDatabase, world: World) -> None:
    def ids(data: bytes) -> set[int]:
        return {orjson.loads(line)["call_id"] for line in data.splitlines()}

    only_site = ExportFilter(NOV.start_ms, NOV.end_ms, site_id=world.other_site_id)
    assert ids(await collect(db, only_site, fmt="ndjson")) == {world.calls["other"]}
    qualified = ExportFilter(NOV.start_ms, NOV.end_ms, qualified_only=True)
    assert world.calls["unqualified"] not in ids(await collect(db, qualified, fmt="ndjson"))
    day = ExportFilter(
        jst_ms(2026, 11, 12), jst_ms(2026, 11, 13), advertiser_id=world.advertiser_id
    )
    assert ids(await collect(db, day, fmt="ndjson")) == {
        world.calls[k] for k in ("yahoo", "microsoft", "wbraid", "unqualified")
    }
    wide = (await collect(db, only_site, fmt="ndjson")).splitlines()
    assert orjson.loads(wide[0])["path"] == []


async def test_api_streams_paths_within_scope(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get(
        "/api/exports/paths?format=ndjson&start=2026-11-01&end=2026-11-30",
        headers=world.auth(world.member_token),
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    rows = [orjson.loads(line) for line in r.content.splitlines()]
    assert [row["call_id"] for row in rows] == [world.calls["other"]]
    assert rows[0]["caller"] == "+81******5678"  # the member's token may not see callers
    r = await client.get("/api/exports/paths?form=long", headers=world.auth())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0].startswith("call_id,provider,provider_call_id,started_at")
    assert "+819012345678" in r.text  # the admin's demo token may
    for bad in ("format=xml", "form=tall", "start=yesterday", "site_id=abc", "tz=Mars/Base"):
        r = await client.get(f"/api/exports/paths?{bad}", headers=world.auth())
        assert r.status_code == 422, bad
        assert r.json()["error"]["status"] == 422
    r = await client.get(
        f"/api/exports/paths?advertiser_id={world.advertiser_id}",
        headers=world.auth(world.member_token),
    )
    assert r.status_code == 403
    assert (await client.get("/api/exports/paths")).status_code == 401


async def test_csv_cells_cannot_become_formulas(db: SQLiteDatabase, world: World) -> None:
    from tests.api.conftest import add_pages

    await add_pages(db, world.sessions["yahoo"], [(jst_ms(2026, 11, 11, 23, 51), "x", "=1+2")])
    await db.execute(
        "UPDATE calls SET touch_keyword = '@SUM(A1)' WHERE id = :c", {"c": world.calls["yahoo"]}
    )
    text = (await collect(db, form="long")).decode()
    rows = [
        r for r in csv.DictReader(io.StringIO(text)) if r["call_id"] == str(world.calls["yahoo"])
    ]
    assert [r["title"] for r in rows] == ["Home", "'=1+2"]
    assert rows[0]["keyword"] == "'@SUM(A1)"
    assert rows[0]["tracking_number"] == "+815017000001"  # numbers are ours, left alone
    ndjson = (await collect(db, fmt="ndjson", form="long")).decode()
    assert '"title":"=1+2"' in ndjson  # JSON is data, not a spreadsheet
