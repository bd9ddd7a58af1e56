"""Many tracking numbers at once from the dashboard: pasted, or a CSV file uploaded; the
same all-or-nothing checks as ``callpath numbers import``."""

from __future__ import annotations

from typing import Any

import httpx

from tests.dashboard.conftest import login, pool_of_new_site
from tests.dashboard.seed import PASSWORD, Seeded

TARGET = "+81366667777"


async def _pool(client: httpx.AsyncClient, db: Any, csrf: str, seeded: Seeded) -> int:
    """A site of advertiser A with the business number 03-6666-7777 and its pool."""
    return await pool_of_new_site(
        client, db, csrf, advertiser=seeded.adv_a, name="Bulk", target="03-6666-7777"
    )


async def _stored(db: Any) -> set[str]:
    rows = await db.fetchall(
        "SELECT number FROM tracking_numbers WHERE forward_to = :t", {"t": TARGET}
    )
    return {r["number"] for r in rows}


async def _paste(client: httpx.AsyncClient, data: dict[str, str], numbers: str) -> httpx.Response:
    """Post ``numbers`` pasted into the bulk form, with the form's other fields ``data``."""
    return await client.post("/dashboard/settings/numbers/bulk", data={**data, "numbers": numbers})


async def _upload(client: httpx.AsyncClient, data: dict[str, str], csv: bytes) -> httpx.Response:
    """Post ``csv`` as the file of the import form, with the form's other fields ``data``."""
    return await client.post(
        "/dashboard/settings/numbers/import",
        data=data,
        files={"file": ("numbers.csv", csv, "text/csv")},
    )


async def test_pasted_numbers_are_all_added(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    pool = await _pool(client, db, csrf, seeded)
    form = {"csrf": csrf, "pool": str(pool), "kind": "pool"}
    done = await _paste(client, form, "050-3333-4401\r\n\r\n050-3333-4402, 05033334403\n")
    assert done.status_code == 303
    assert done.headers["location"].endswith("added=3")
    assert await _stored(db) == {"+815033334401", "+815033334402", "+815033334403"}
    page = await client.get(done.headers["location"])
    assert "3 number(s) added." in page.text


async def test_a_bad_paste_stores_nothing_and_names_each_line(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    pool = await _pool(client, db, csrf, seeded)
    paste = "050-3333-4401\nhello\n050-3333-4401\n050-9999-0001\n"
    refused = await _paste(client, {"csrf": csrf, "pool": str(pool), "kind": "pool"}, paste)
    assert refused.status_code == 422
    assert await _stored(db) == set()
    text = refused.text
    assert 'id="number-errors"' in text
    assert "Line 2 · number" in text  # not a number
    assert "is also on row 1" in text  # pasted twice
    # Another advertiser's number: not available, without saying whose.
    assert "+815099990001 is not available" in text
    assert "050-9999-0001" in text  # what was typed is kept in the box
    assert "Rival" not in text


async def test_another_advertisers_pool_is_not_found(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    refused = await _paste(client, {"csrf": csrf, "pool": str(seeded.pool_b)}, "050-3333-4401")
    assert refused.status_code == 404
    assert (
        await db.fetchval("SELECT COUNT(*) FROM tracking_numbers WHERE number = '+815033334401'")
        == 0
    )


async def test_a_csv_upload_adds_all_rows_or_none(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    pool = await _pool(client, db, csrf, seeded)
    form = {"csrf": csrf, "pool": str(pool)}
    bad = "number,kind\n050-3333-4411,pool\n050-3333-4412,nonsense\n"
    refused = await _upload(client, form, bad.encode())
    assert refused.status_code == 422
    assert "Line 3 · kind" in refused.text
    assert await _stored(db) == set()
    # Shift_JIS, as Excel in Japan saves it; rows without a target go to the chosen pool.
    good = "number,label\r\n050-3333-4411,チラシ\r\n050-3333-4412,\r\n".encode("cp932")
    done = await _upload(client, form, good)
    assert done.status_code == 303, done.text
    assert await _stored(db) == {"+815033334411", "+815033334412"}


async def test_an_upload_without_the_forms_token_is_refused(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    pool = await _pool(client, db, csrf, seeded)
    refused = await _upload(client, {"pool": str(pool)}, b"number\n050-3333-4411\n")
    assert refused.status_code == 403
    assert await _stored(db) == set()


async def test_the_numbers_page_says_where_numbers_come_from(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.admin, PASSWORD)
    page = await client.get("/dashboard/settings/numbers")
    assert "Buy a number" in page.text
    assert "http://testserver/twilio/voice" in page.text
