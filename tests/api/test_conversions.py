"""Offline-conversion files, column by column, and the ledger that stops repeats."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from attribution import conversions as conv
from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms

NOW = jst_ms(2026, 11, 20, 12, 0)
NOV = {"start_ms": jst_ms(2026, 11, 1), "end_ms": jst_ms(2026, 12, 1)}


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_google_file_columns_time_zone_and_braids(db: SQLiteDatabase, world: World) -> None:
    f = await conv.export_conversions(db, platform="google", now_ms=NOW, **NOV)
    assert f.media_type == "text/csv; charset=utf-8"
    text = f.content.decode("utf-8")
    assert "\r\n" in text
    rows = rows_of(text)
    assert rows[0] == ["Parameters:TimeZone=+0900"]
    # A wbraid click is in the file, so the GBRAID and WBRAID columns are there.
    assert rows[1] == [
        "Google Click ID",
        "GBRAID",
        "WBRAID",
        "Conversion Name",
        "Conversion Time",
        "Conversion Value",
        "Conversion Currency",
    ]
    # The unqualified call and the other advertiser's call... the latter is qualified and
    # has a gclid, so without a scope it is in the file too.
    body = rows[2:]
    assert [r[0] or r[2] for r in body] == ["Cj0KCQ-test-gclid", "wbraid-ios-1", "other-gclid"]
    gclid = body[0]
    assert gclid == [
        "Cj0KCQ-test-gclid",
        "",
        "",
        "Phone call",
        "2026-11-10 10:02:30",  # wall-clock time in Tokyo, as the TimeZone row says
        "0",
        "JPY",
    ]
    assert body[1][:3] == ["", "", "wbraid-ios-1"]
    assert f.count == 3
    # Exported once: a second export of the same period is empty.
    again = await conv.export_conversions(db, platform="google", now_ms=NOW, **NOV)
    assert again.count == 0
    assert rows_of(again.content.decode())[2:] == []
    assert rows_of(again.content.decode())[1][0] == "Google Click ID"


async def test_google_without_braids_has_the_five_columns(db: SQLiteDatabase, world: World) -> None:
    f = await conv.export_conversions(
        db, platform="google", now_ms=NOW, site_id=world.other_site_id, **NOV
    )
    rows = rows_of(f.content.decode())
    assert rows[1] == [
        "Google Click ID",
        "Conversion Name",
        "Conversion Time",
        "Conversion Value",
        "Conversion Currency",
    ]
    assert rows[2][0] == "other-gclid"


async def test_settings_name_value_and_qualification(db: SQLiteDatabase, world: World) -> None:
    await conv.put_settings(
        db,
        site_id=world.site_id,
        platform="google",
        settings=conv.ConversionSettings("電話 CV", "5000.00", "JPY", qualified_only=False),
        now_ms=NOW,
    )
    f = await conv.export_conversions(
        db, platform="google", now_ms=NOW, site_id=world.site_id, record=False, **NOV
    )
    body = rows_of(f.content.decode())[2:]
    # qualified_only off: the unqualified call of the same session is a conversion too.
    assert len(body) == 3
    assert {r[3] for r in body} == {"電話 CV"} and {r[5] for r in body} == {"5000"}
    # record=False is a preview: nothing is in the ledger yet.
    assert await db.fetchval("SELECT COUNT(*) FROM conversion_ledger") == 0
    with pytest.raises(ValueError, match="currency"):
        conv.check_settings("google", conv.ConversionSettings("x", "1", "yen"))
    with pytest.raises(ValueError, match="value"):
        conv.check_settings("google", conv.ConversionSettings("x", "-1", "JPY"))
    with pytest.raises(ValueError, match="Shift_JIS"):
        conv.check_settings("yahoo", conv.ConversionSettings("call 😀", "1", "JPY"))
    # The documented pattern (digits, an optional fraction of up to 6) is the rule: Decimal
    # alone would take "1e3" as 1000, "Infinity" or " 5".
    for bad in ("1e3", "1E3", " 5", "5.", ".5", "+5", "1_000", "1.1234567", "１２"):
        with pytest.raises(ValueError, match="value"):
            conv.check_settings("google", conv.ConversionSettings("x", bad, "JPY"))


async def test_yahoo_file_is_shift_jis_in_tokyo_time(db: SQLiteDatabase, world: World) -> None:
    await conv.put_settings(
        db,
        site_id=world.site_id,
        platform="yahoo",
        settings=conv.ConversionSettings("電話問い合わせ①", "3000", "JPY"),
        now_ms=NOW,
    )
    # Even when asked for another zone, Yahoo! JAPAN gets Asia/Tokyo.
    f = await conv.export_conversions(db, platform="yahoo", now_ms=NOW, timezone="UTC", **NOV)
    assert f.media_type == "text/csv; charset=shift_jis"
    with pytest.raises(UnicodeDecodeError):
        f.content.decode("utf-8")
    text = f.content.decode("cp932")
    rows = rows_of(text)
    assert rows[0] == [
        "YCLID",
        "コンバージョン名",
        "コンバージョン発生日時",
        "1コンバージョンあたりの価値",
        "通貨コード",
    ]
    # 00:05:09 on 12 November in Tokyo is still 11 November in UTC: the date is Tokyo's.
    assert rows[1] == [
        "YSS.1000000001.EAIaIQ-test",
        "電話問い合わせ①",
        "20261112 000509",
        "3000",
        "JPY",
    ]
    assert len(rows) == 2
    assert (await conv.export_conversions(db, platform="yahoo", now_ms=NOW, **NOV)).count == 0


async def test_microsoft_file_and_utc_for_zones_with_daylight_saving(
    db: SQLiteDatabase, world: World
) -> None:
    f = await conv.export_conversions(
        db, platform="microsoft", now_ms=NOW, timezone="America/New_York", **NOV
    )
    rows = rows_of(f.content.decode())
    # Microsoft's template ends the parameters row with ";" (Google's does not).
    assert f.content.decode().startswith("Parameters:TimeZone=+0000;\r\n")
    assert rows[0] == ["Parameters:TimeZone=+0000;"]
    assert rows[1] == [
        "Microsoft Click ID",
        "Conversion Name",
        "Conversion Time",
        "Conversion Value",
        "Conversion Currency",
    ]
    # 08:01 in Tokyo is 23:01 UTC the day before.
    assert rows[2] == ["ms-click-1", "Phone call", "2026-11-11 23:01:00", "0", "JPY"]
    again = await conv.export_conversions(db, platform="microsoft", now_ms=NOW, **NOV)
    assert again.count == 0


async def test_conversion_endpoint_scopes_and_ledger(
    client: httpx.AsyncClient, world: World
) -> None:
    url = "/api/exports/conversions/google?start=2026-11-01&end=2026-11-30"
    # The member's token sees only its own advertiser's call.
    r = await client.post(url, headers=world.auth(world.member_token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-callpath-conversions"] == "1"
    assert "other-gclid" in r.text and "Cj0KCQ" not in r.text
    preview = await client.post(url + "&preview=true", headers=world.auth())
    assert preview.headers["x-callpath-conversions"] == "2"
    r = await client.post(url, headers=world.auth())
    assert r.headers["x-callpath-conversions"] == "2"
    r = await client.post(url, headers=world.auth())
    assert r.headers["x-callpath-conversions"] == "0"
    bad = await client.post("/api/exports/conversions/facebook", headers=world.auth())
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"
    bad = await client.post(url.replace("2026-11-01", "2026-13-01"), headers=world.auth())
    assert bad.status_code == 422
    other = f"/api/exports/conversions/yahoo?site_id={world.site_id}"
    r = await client.post(other, headers=world.auth(world.member_token))
    assert r.status_code == 404


async def test_conversion_settings_endpoint(client: httpx.AsyncClient, world: World) -> None:
    url = f"/api/sites/{world.site_id}/conversions/yahoo"
    r = await client.get(url, headers=world.auth())
    assert r.json() == {
        "conversion_name": "Phone call",
        "value": "0",
        "currency": "JPY",
        "qualified_only": True,
        "enabled": True,
    }
    r = await client.put(
        url, json={"conversion_name": "電話", "value": "1200.50"}, headers=world.auth()
    )
    assert r.status_code == 200 and r.json()["value"] == "1200.5"
    assert (await client.get(url, headers=world.auth())).json()["conversion_name"] == "電話"
    for bad in (
        {"value": 5},
        {"value": "1e3"},
        {"currency": "yen"},
        {"nope": 1},
        {"conversion_name": ""},
    ):
        r = await client.put(url, json=bad, headers=world.auth())
        assert r.status_code == 422, bad
    assert (await client.get(url, headers=world.auth())).json()["conversion_name"] == "電話"
    r = await client.get(url, headers=world.auth(world.member_token))
    assert r.status_code == 404


async def _stored_before_validation(db: SQLiteDatabase, world: World, **click: str) -> int:
    """A session with a click id stored before click ids were validated, and its call."""
    session = await world.add_session(db, jst_ms(2026, 11, 14, 9, 0), **click)
    return await world.add_call(db, jst_ms(2026, 11, 14, 9, 5), session_id=session)


@pytest.mark.parametrize(
    ("platform", "column", "bad"),
    [
        ("yahoo", "yclid", "YSS.\U0001f600"),  # Shift_JIS cannot encode it
        ("yahoo", "yclid", "=1+cmd|/C calc!A0"),
        ("google", "gclid", "=1+cmd|/C calc!A0"),
        ("google", "gbraid", "@SUM(1+1)*cmd|' /C calc'!A0"),
        ("microsoft", "msclkid", "+cmd|/C calc!A0"),
    ],
)
async def test_a_click_id_stored_before_validation_is_skipped_with_a_reason(
    db: SQLiteDatabase, world: World, platform: str, column: str, bad: str
) -> None:
    call = await _stored_before_validation(db, world, **{column: bad})
    f = await conv.export_conversions(db, platform=platform, now_ms=NOW, **NOV)
    encoding = conv.YAHOO_ENCODING if platform == "yahoo" else "utf-8"
    text = f.content.decode(encoding)
    assert "cmd" not in text and "\U0001f600" not in text
    assert f.skipped == {"click_id_invalid": 1}
    # The good calls of the range are in the file all the same.
    assert f.count == {"yahoo": 1, "google": 3, "microsoft": 1}[platform]
    # Never sent, so not in the ledger: the next export reports it again.
    ledger = "SELECT COUNT(*) FROM conversion_ledger WHERE call_id = :c"
    assert await db.fetchval(ledger, {"c": call}) == 0
    again = await conv.export_conversions(db, platform=platform, now_ms=NOW, **NOV)
    assert again.count == 0 and again.skipped == {"click_id_invalid": 1}


async def test_a_conversion_name_shift_jis_cannot_encode_is_skipped_not_a_500(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World
) -> None:
    # Stored past the settings check (an older version, or by hand in the database).
    await db.execute(
        "INSERT INTO conversion_settings (site_id, platform, conversion_name, value, currency,"
        " qualified_only, enabled, updated_ms) VALUES (:s, 'yahoo', :n, '0', 'JPY', 1, 1, 0)",
        {"s": world.site_id, "n": "電話 \U0001f4de"},
    )
    await _stored_before_validation(db, world, yclid="YSS.\U0001f600")
    url = "/api/exports/conversions/yahoo?start=2026-11-01&end=2026-11-30"
    r = await client.post(url, headers=world.auth())
    assert r.status_code == 200, r.text
    assert r.headers["x-callpath-conversions"] == "0"
    skipped = r.headers["x-callpath-skipped"]
    assert skipped == "click_id_invalid=1, not_shift_jis=1"
    assert rows_of(r.content.decode(conv.YAHOO_ENCODING)) == [conv.YAHOO_HEADER]
