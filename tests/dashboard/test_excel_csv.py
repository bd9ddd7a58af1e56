"""CSV downloads for Excel in Japanese (attribution/csv_encoding.py) from the dashboard, the
API and the CLI: Shift_JIS when every character fits, else UTF-8 with a byte-order mark;
Shift_JIS with ``?`` on request; plain UTF-8 beside them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx

from backend.settings import Settings
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import KEYWORD_A, PASSWORD, Seeded, add_token
from tests.support.server import run_cli

BOM = b"\xef\xbb\xbf"
OUTSIDE = "𠮷野家 😀"  # a keyword Shift_JIS cannot hold


async def _outside_keyword(db: Store, seeded: Seeded) -> None:
    await db.execute(
        "UPDATE calls SET touch_keyword = :k WHERE id = :c", {"k": OUTSIDE, "c": seeded.calls_a[1]}
    )


async def test_dashboard_offers_excel_beside_plain_utf8(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    log = (await client.get("/dashboard/calls", headers={"accept-language": "ja"})).text
    assert "Excel (日本語) 用" in log and "encoding=excel" in log
    plain = await client.get("/dashboard/calls/export")
    assert plain.status_code == 200 and not plain.content.startswith(BOM)
    excel = await client.get("/dashboard/calls/export?encoding=excel")
    assert excel.status_code == 200
    assert excel.headers["content-type"] == "text/csv; charset=shift_jis"
    assert excel.headers["content-disposition"].endswith('-wide-excel.csv"')
    # Every character fits: the same text, in Shift_JIS, exactly.
    assert excel.content.decode("cp932") == plain.content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(excel.content.decode("cp932"))))
    assert any(r["keyword"] == KEYWORD_A for r in rows)
    # One keyword Shift_JIS lacks: the whole file is UTF-8 after a byte-order mark.
    await _outside_keyword(db, seeded)
    plain = await client.get("/dashboard/calls/export")
    excel = await client.get("/dashboard/calls/export?encoding=excel")
    assert excel.headers["content-type"] == "text/csv; charset=utf-8"
    assert excel.content == BOM + plain.content and OUTSIDE in plain.text
    # sjis: always Shift_JIS, what it lacks written as "?".
    sjis = await client.get("/dashboard/calls/export?encoding=sjis")
    assert sjis.headers["content-disposition"].endswith('-wide-sjis.csv"')
    assert "?野家 ?" in sjis.content.decode("cp932") and KEYWORD_A in sjis.content.decode("cp932")
    # NDJSON is data, always UTF-8; an unknown encoding is refused.
    ndjson = await client.get("/dashboard/calls/export?format=ndjson&encoding=excel")
    assert not ndjson.content.startswith(BOM) and OUTSIDE in ndjson.text
    assert (await client.get("/dashboard/calls/export?encoding=cp1252")).status_code == 400


async def test_api_encoding_parameter(client: httpx.AsyncClient, seeded: Seeded, db: Store) -> None:
    token = await add_token(db, seeded.member_a, advertiser_id=seeded.adv_a)
    auth = {"authorization": f"Bearer {token}"}
    plain = await client.get("/api/exports/paths", headers=auth)
    excel = await client.get("/api/exports/paths?encoding=excel", headers=auth)
    assert plain.status_code == excel.status_code == 200
    assert excel.content == plain.text.encode("cp932")
    assert excel.headers["content-disposition"].endswith('-excel.csv"')
    await _outside_keyword(db, seeded)
    plain = await client.get("/api/exports/paths", headers=auth)
    excel = await client.get("/api/exports/paths?encoding=excel", headers=auth)
    assert excel.content == BOM + plain.content
    bad = await client.get("/api/exports/paths?encoding=shift_jis", headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "encoding"
    spec = (await client.get("/api/openapi.json")).json()
    params = spec["paths"]["/api/exports/paths"]["get"]["parameters"]
    encoding = next(p for p in params if p["name"] == "encoding")
    assert encoding["schema"]["enum"] == ["utf-8", "excel", "sjis"]


async def test_cli_encoding_option(
    settings: Settings, seeded: Seeded, db: Store, tmp_path: Path
) -> None:
    out = tmp_path / "paths.csv"
    url = settings.database_url
    r = run_cli("export", "paths", "--encoding", "excel", "-o", str(out), database_url=url)
    assert r.returncode == 0, r.stderr
    assert KEYWORD_A in out.read_bytes().decode("cp932") and "shift_jis" in r.stderr
    await _outside_keyword(db, seeded)
    r = run_cli("export", "paths", "--encoding", "excel", "-o", str(out), database_url=url)
    data = out.read_bytes()
    assert data.startswith(BOM) and OUTSIDE in data.decode("utf-8-sig")
    r = run_cli("export", "paths", "--encoding", "sjis", "-o", str(out), database_url=url)
    assert "?野家 ?" in out.read_bytes().decode("cp932")
    assert "2 characters Shift_JIS lacks" in r.stderr
    bad = run_cli("export", "paths", "--encoding", "cp1252", database_url=url)
    assert bad.returncode != 0 and "excel" in bad.stderr
