"""A member learns nothing about another tenant's numbers from the answers to adding them.

Member A tries the rival clinic's (B's) tracking number and business number through every
way of adding a number: the API (one number, a CSV import, a pool's target) and the
dashboard's numbers page. Each is refused, as "not available", the same words for either
kind, with no id and no hint of what the number is or whose.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded, add_token

B_TRACKING = "+815099990001"
B_BUSINESS = "+81355550000"
FORWARD = "+81312345678"
LEAKS = ("(id", "already stored", "tracking number", "business number", "Rival", "rival")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _source_number(number: str, site: str, label: str) -> dict[str, str]:
    """The API's body adding ``number`` as a source number of ``site``."""
    return {"number": number, "kind": "source", "site": site, "label": label, "forward_to": FORWARD}


def _no_leak(text: str, number: str) -> None:
    assert f"{number} is not available" in text, text
    for word in LEAKS:
        assert word not in text, (word, text)


async def test_the_api_says_only_not_available(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    token = await add_token(db, seeded.member_a, advertiser_id=seeded.adv_a)
    before = await db.fetchval("SELECT COUNT(*) FROM tracking_numbers")
    for number in (B_TRACKING, B_BUSINESS):
        body = _source_number(number, "demo", "Billboard")
        one = await client.post("/api/numbers", json=body, headers=_bearer(token))
        assert one.status_code == 422
        _no_leak(one.text, number)
        csv = f"number,kind,site,label,forward_to\n{number},source,demo,Billboard,{FORWARD}\n"
        imported = await client.post(
            "/api/numbers/import",
            content=csv.encode(),
            headers={**_bearer(token), "Content-Type": "text/csv"},
        )
        assert imported.status_code == 422
        _no_leak(imported.text, number)
    pool = await client.post(
        "/api/pools", json={"site": "demo", "target": B_TRACKING}, headers=_bearer(token)
    )
    assert pool.status_code == 422
    _no_leak(pool.text, B_TRACKING)
    assert await db.fetchval("SELECT COUNT(*) FROM tracking_numbers") == before


async def test_the_dashboard_says_only_not_available(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    pool = await db.fetchval(
        "SELECT id FROM pools WHERE site_id = :s ORDER BY id LIMIT 1", {"s": seeded.site_a}
    )
    for number in (B_TRACKING, B_BUSINESS):
        refused = await client.post(
            "/dashboard/settings/numbers",
            data={"csrf": csrf, "pool": str(pool), "number": number, "kind": "pool"},
        )
        assert refused.status_code == 422
        # The numbers page again, the reason by the field: only the reason says anything.
        reason = re.search(r'<span class="field-error" role="alert">([^<]*)</span>', refused.text)
        assert reason, refused.text
        _no_leak(reason.group(1), number)
        assert "Rival" not in refused.text and "rival" not in refused.text


async def test_an_administrator_and_the_owner_still_get_the_details(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    admin = await add_token(db, seeded.admin, advertiser_id=None)
    owner = await add_token(db, seeded.member_b, advertiser_id=seeded.adv_b)
    for token in (admin, owner):
        body = _source_number(B_TRACKING, "rival", "x")
        again = await client.post("/api/numbers", json=body, headers=_bearer(token))
        assert again.status_code == 422
        assert f"is already stored (id {seeded.number_b})" in again.text
