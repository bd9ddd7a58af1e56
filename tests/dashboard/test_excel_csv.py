"""CSV downloads for Excel in Japanese: UTF-8 after a byte-order mark, beside plain UTF-8, from
the dashboard, the API and the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx

from attribution.csvcells import csv_preamble
from backend.settings import Settings
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import KEYWORD_A, PASSWORD, Seeded, add_token
from tests.support.server import run_cli

BOM = b"\xef\xbb\xbf"


def test_the_preamble_of_each_encoding() -> None:
    assert csv_preamble("excel") == BOM and BOM.decode("utf-8") == "\ufeff"
    assert csv_preamble("utf-8") == b""
    try:
        csv_preamble("shift_jis")
    except ValueError as exc:
        assert "excel" in str(exc)
    else:
        raise AssertionError("an unknown encoding was taken")


async def test_dashboard_offers_excel_beside_plain_utf8(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    log = (await client.get("/dashboard/calls", headers={"accept-language": "ja"})).text
    assert "Excel (日本語) 用" in log and "encoding=excel" in log
    plain = await client.get("/dashboard/calls/export")
    assert plain.status_code == 200 and not plain.content.startswith(BOM)
    excel = await client.get("/dashboard/calls/export?encoding=excel")
    assert excel.status_code == 200
    assert excel.content.startswith(BOM) and excel.content.count(BOM) == 1
    assert excel.headers["content-disposition"].endswith('-wide-excel.csv"')
    # The same rows: what Excel reads with its "utf-8-sig" is the plain file.
    assert excel.content[len(BOM) :] == plain.content
    rows = list(csv.DictReader(io.StringIO(excel.content.decode("utf-8-sig"))))
    assert rows[0].keys() == next(iter(csv.DictReader(io.StringIO(plain.text)))).keys()
    assert any(r["keyword"] == KEYWORD_A for r in rows)
    # NDJSON is data, never given a byte-order mark; an unknown encoding is refused.
    ndjson = await client.get("/dashboard/calls/export?format=ndjson&encoding=excel")
    assert not ndjson.content.startswith(BOM)
    assert (await client.get("/dashboard/calls/export?encoding=cp1252")).status_code == 400


async def test_api_encoding_parameter(client: httpx.AsyncClient, seeded: Seeded, db: Store) -> None:
    token = await add_token(db, seeded.member_a, advertiser_id=seeded.adv_a)
    auth = {"authorization": f"Bearer {token}"}
    plain = await client.get("/api/exports/paths", headers=auth)
    excel = await client.get("/api/exports/paths?encoding=excel", headers=auth)
    assert plain.status_code == excel.status_code == 200
    assert excel.content == BOM + plain.content
    assert excel.headers["content-disposition"].endswith('-excel.csv"')
    assert KEYWORD_A in excel.content.decode("utf-8-sig")
    bad = await client.get("/api/exports/paths?encoding=shift_jis", headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "encoding"
    spec = (await client.get("/api/openapi.json")).json()
    params = spec["paths"]["/api/exports/paths"]["get"]["parameters"]
    assert any(p["name"] == "encoding" for p in params)


async def test_cli_encoding_option(settings: Settings, seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "paths.csv"
    r = run_cli(
        "export", "paths", "--encoding", "excel", "-o", str(out), database_url=settings.database_url
    )
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith(BOM) and KEYWORD_A in data.decode("utf-8-sig")
    bad = run_cli("export", "paths", "--encoding", "sjis", database_url=settings.database_url)
    assert bad.returncode != 0 and "excel" in bad.stderr
