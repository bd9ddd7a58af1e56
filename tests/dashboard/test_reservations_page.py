"""The reserved calls page: the portal (administrator) sees every advertiser's figures, a
member its own; the CSV holds the same rows."""

from __future__ import annotations

from datetime import date, timedelta

import httpx

from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded


def period() -> str:
    """Today to the day after tomorrow (the seeded reservation starts tomorrow)."""
    day = date.today()
    return f"from={day.isoformat()}&to={(day + timedelta(days=2)).isoformat()}"


async def test_the_portal_sees_each_advertisers_reserved_calls(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.admin, PASSWORD)
    page = await client.get("/dashboard/reservations")
    assert page.status_code == 200
    assert "rival-medium" not in page.text  # tomorrow is not in the default period (to today)
    page = await client.get(f"/dashboard/reservations?{period()}")
    assert "rival-medium" in page.text and 'id="total-reservations">1<' in page.text
    csv = await client.get(f"/dashboard/reservations/export?{period()}")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "rival-medium" in csv.content.decode("utf-8-sig")


async def test_a_member_sees_only_its_own(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await login(client, seeded.member_a, PASSWORD)
    page = await client.get(f"/dashboard/reservations?{period()}")
    assert page.status_code == 200
    assert "rival-medium" not in page.text and 'id="reservations-empty"' in page.text
    csv = await client.get(f"/dashboard/reservations/export?{period()}")
    assert "rival-medium" not in csv.content.decode("utf-8-sig")
