"""The call log with a call matched to no visit (a test call, a caller who saw a flyer)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import add_call


async def test_an_unmatched_call_shows_no_keyword_rather_than_none(
    client: httpx.AsyncClient, demo: dict[str, Any], db: Store
) -> None:
    number = await db.fetchone(
        "SELECT id, number, advertiser_id, site_id FROM tracking_numbers ORDER BY id LIMIT 1"
    )
    assert number is not None
    async with db.write() as conn:
        call_id = await add_call(
            conn,
            advertiser_id=number["advertiser_id"],
            site_id=number["site_id"],
            number_id=number["id"],
            tracking_number=number["number"],
            caller="+819012345678",
            started_ms=now_ms(),
        )
    await login(client, demo["login"]["email"], demo["login"]["password"])
    page = await client.get("/dashboard/calls")
    assert page.status_code == 200
    cells = re.findall(r"<td[^>]*>\s*None\s*</td>", page.text)
    assert cells == [], cells
    detail = await client.get(f"/dashboard/calls/{call_id}")
    assert detail.status_code == 200
    assert re.findall(r">\s*None\s*<", detail.text) == []
