"""Adding and importing numbers: E.164, kinds, and all-or-nothing with errors by row."""

from __future__ import annotations

import pytest

from backend import accounts
from backend.storage import SQLiteDatabase
from pool import numbers
from pool.imports import decode, parse_csv, read_csv
from pool.inventory import InventoryError, NumberSpec, add_numbers
from tests.pool.helpers import T0, PoolSite, add_pool, make_pool_site


async def _with_us_branch(db: SQLiteDatabase) -> PoolSite:
    """Site s1 (JP): target 03-1234-5678 with a pool, and a New York branch with a pool."""
    ps = await make_pool_site(db, size=1)
    async with db.write() as tx:
        us = await accounts.add_target(
            tx, site_id=ps.site_id, number="+12125550100", label="NY", now_ms=T0
        )
        await add_pool(tx, site_id=ps.site_id, target_id=us, name="NY")
    return ps


GOOD = """number,kind,site,target,forward_to,label
050-2222-0001,pool,s1,03-1234-5678,,
0120-111-222,source,s1,,03-1234-5678,Flyer (Shibuya)
0800-111-2222,source,s1,03-1234-5678,,Yahoo! ads
0078-123-4567,source,s1,03-1234-5678,,Billboard
06-6123-4567,source,s1,03-1234-5678,,Radio Osaka
+1 212 555 0151,pool,s1,+12125550100,,
(212) 555-0152,pool,s1,+12125550100,,
050-2222-0009,overflow,s1,03-1234-5678,,
"""


async def test_import_japanese_and_us_numbers(db: SQLiteDatabase) -> None:
    ps = await _with_us_branch(db)
    # The New York branch's calls go to the US: the install allows it
    # (CALLPATH_FORWARD_COUNTRIES=JP,US); by default only the site's country is.
    with pytest.raises(InventoryError, match=r"row 7, target: .* US number; .* JP only"):
        await add_numbers(db, parse_csv(GOOD), advertiser_id=None, now_ms=T0)
    ids = await add_numbers(
        db, parse_csv(GOOD), advertiser_id=None, now_ms=T0, forward_countries={"JP", "US"}
    )
    assert len(ids) == 8
    rows = await db.fetchall(
        "SELECT number, kind, forward_to, source_label, pool_id FROM tracking_numbers"
        " WHERE id >= :first ORDER BY id",
        {"first": ids[0]},
    )
    assert [r["number"] for r in rows] == [
        "+815022220001",
        "+81120111222",
        "+818001112222",
        "+8100781234567",
        "+81661234567",
        "+12125550151",
        "+12125550152",
        "+815022220009",
    ]
    assert rows[0]["pool_id"] == ps.pool_id and rows[0]["forward_to"] == "+81312345678"
    assert rows[1]["kind"] == "source" and rows[1]["source_label"] == "Flyer (Shibuya)"
    assert rows[1]["pool_id"] is None
    assert rows[5]["forward_to"] == "+12125550100" and rows[5]["pool_id"] != ps.pool_id
    # The new overflow number replaced the pool's previous one.
    assert (
        await db.fetchval("SELECT overflow_number_id FROM pools WHERE id = :p", {"p": ps.pool_id})
        == ids[-1]
    )


BAD = """number,kind,site,target,forward_to,label
050-2222-0001,pool,s1,03-1234-5678,,
12345,pool,s1,03-1234-5678,,
050-2222-0001,pool,s1,03-1234-5678,,
+44 20 7946 0000,source,s1,,03-1234-5678,London
+1 212 555 0160,pool,s1,03-1234-5678,,
050-2222-0003,pool,nosuchsite,03-1234-5678,,
050-2222-0004,source,s1,03-1234-5678,,
050-2222-0005,pool,s1,03-9999-9999,,
050-1000-0001,pool,s1,03-1234-5678,,
050-2222-0006,teleport,s1,03-1234-5678,,
"""


async def test_bad_rows_are_all_named_and_nothing_is_stored(db: SQLiteDatabase) -> None:
    await _with_us_branch(db)
    before = await db.fetchall("SELECT * FROM tracking_numbers ORDER BY id")
    with pytest.raises(InventoryError) as caught:
        await add_numbers(db, parse_csv(BAD), advertiser_id=None, now_ms=T0)
    errors = {e.row: (e.field, e.reason) for e in caught.value.errors}
    assert errors[3] == ("number", "not a valid number: '12345'")
    assert errors[4][0] == "number" and "also on row 2" in errors[4][1]
    assert errors[5][0] == "number" and "is a GB number" in errors[5][1]
    assert errors[6][0] == "number" and "US number; the target's country is JP" in errors[6][1]
    assert errors[7] == ("site", "no site has the key 'nosuchsite'")
    assert errors[8][0] == "label"
    assert errors[9] == ("target", "+81399999999 is not a business number of this site")
    assert errors[10][0] == "number" and "already stored" in errors[10][1]
    assert errors[11][0] == "kind"
    assert 2 not in errors
    assert "row 3, number: not a valid number" in str(caught.value)
    assert await db.fetchall("SELECT * FROM tracking_numbers ORDER BY id") == before


def test_malformed_csv_rows_are_named_by_line() -> None:
    text = "number,site\n050-2222-0001,s1\n050-2222-0002,s1,extra\n\n,s1\n"
    with pytest.raises(InventoryError) as caught:
        parse_csv(text)
    assert [(e.row, e.field) for e in caught.value.errors] == [(3, ""), (5, "number")]
    assert "3 fields where the header has 2" in caught.value.errors[0].reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        ("phone,site\n1,2\n", "unknown column(s) 'phone'"),
        ("site\ns1\n", "a 'number' column is required"),
        ("number,number\n1,2\n", "a column is named twice"),
        ("number\n", "no numbers in the file"),
    ],
)
def test_bad_headers_and_empty_files(text: str, reason: str) -> None:
    with pytest.raises(InventoryError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_csv(text)


def test_shift_jis_and_bom_files_are_read() -> None:
    text = "number,site,label\n0120-111-222,s1,チラシ\n"
    assert decode(text.encode("cp932")) == text
    assert decode(b"\xef\xbb\xbf" + text.encode()) == text
    assert parse_csv(text)[0].label == "チラシ"


async def test_an_advertiser_cannot_add_to_another_advertisers_site(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db)
    other = await make_pool_site(db, site_key="s2", target="+81312340000", first=100)
    spec = NumberSpec("050-3333-0001", site="s1", target="03-1234-5678")
    with pytest.raises(InventoryError, match="no site has the key 's1'"):
        await add_numbers(db, [spec], advertiser_id=other.advertiser_id, now_ms=T0)
    assert await add_numbers(db, [spec], advertiser_id=ps.advertiser_id, now_ms=T0)


async def test_a_target_number_cannot_be_a_tracking_number(db: SQLiteDatabase) -> None:
    await make_pool_site(db)
    other = await make_pool_site(db, site_key="s2", target="+81312340000", first=100)
    spec = NumberSpec(
        "03-1234-0000", kind="source", site="s1", forward_to="03-1234-5678", label="x"
    )
    with pytest.raises(InventoryError, match="business number of a site"):
        await add_numbers(db, [spec], advertiser_id=None, now_ms=T0)
    assert other.site_id


async def test_pool_creation_is_checked(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db)
    async with db.write() as tx:
        with pytest.raises(numbers.NumberError, match="already has pool"):
            await add_pool(tx, site_id=ps.site_id, target_id=ps.target_id, name="again")
        with pytest.raises(numbers.NumberError, match="ttl"):
            numbers.check_timings(ttl_ms=1000, grace_ms=0, cooldown_ms=0)


async def test_malformed_and_invalid_rows_are_reported_together(db: SQLiteDatabase) -> None:
    await make_pool_site(db)
    text = "number,target\n050-2222-0001,03-1234-5678,extra\n12345,03-1234-5678\n"
    specs, malformed = read_csv(text, site="s1")
    with pytest.raises(InventoryError) as caught:
        await add_numbers(db, specs, advertiser_id=None, now_ms=T0, errors=malformed)
    assert [(e.row, e.field) for e in caught.value.errors] == [(2, ""), (3, "number")]


def test_windows_line_endings_and_quoted_fields() -> None:
    text = 'number,kind,site,label\r\n0120-111-222,source,s1,"Flyer, Shibuya"\r\n'
    (spec,) = parse_csv(text)
    assert (spec.number, spec.label, spec.row) == ("0120-111-222", "Flyer, Shibuya", 2)
