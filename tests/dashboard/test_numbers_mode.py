"""A site's numbers mode on its settings page: visit codes (任意番号) and one number per
visitor, set by the people who run the site (issues #16 and #21)."""

from __future__ import annotations

import httpx

from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded


async def test_a_member_turns_on_codes_and_one_number_per_visitor(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    page = await client.get(f"/dashboard/settings/sites/{seeded.site_a}")
    assert 'id="numbers-mode-form"' in page.text
    target = await db.fetchval(
        "SELECT t.number FROM targets t JOIN pools p ON p.target_id = t.id"
        " WHERE t.site_id = :s ORDER BY t.id LIMIT 1",
        {"s": seeded.site_a},
    )
    url = f"/dashboard/settings/sites/{seeded.site_a}/numbers-mode"
    r = await client.post(
        url,
        data={
            "csrf": csrf,
            "visit_codes": "1",
            "number_per_visitor": "1",
            "default_target": target,
        },
    )
    assert r.status_code == 303
    site = await db.fetchone(
        "SELECT visit_codes, number_per_visitor, default_target_id FROM sites WHERE id = :s",
        {"s": seeded.site_a},
    )
    assert site is not None and site["visit_codes"] == 1 and site["number_per_visitor"] == 1
    assert site["default_target_id"] is not None
    shown = (await client.get(f"/dashboard/settings/sites/{seeded.site_a}")).text
    form = shown.split('id="numbers-mode-form"')[1].split("</form>")[0]
    assert form.count("checked") == 2 and "selected" in form
    # Unticked boxes turn both off again.
    r = await client.post(url, data={"csrf": csrf, "default_target": ""})
    assert r.status_code == 303
    site = await db.fetchone(
        "SELECT visit_codes, number_per_visitor, default_target_id FROM sites WHERE id = :s",
        {"s": seeded.site_a},
    )
    assert site is not None and (site["visit_codes"], site["number_per_visitor"]) == (0, 0)
    assert site["default_target_id"] is None


async def test_a_default_target_outside_the_site_comes_back_in_the_page(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    r = await client.post(
        f"/dashboard/settings/sites/{seeded.site_a}/numbers-mode",
        data={"csrf": csrf, "number_per_visitor": "1", "default_target": "+81355550000"},
        headers={"Accept-Language": "ja"},
    )
    assert r.status_code == 422
    assert "プールがある代表番号を選んでください" in r.text and "<nav" in r.text
    assert not await db.fetchval(
        "SELECT number_per_visitor FROM sites WHERE id = :s", {"s": seeded.site_a}
    )
