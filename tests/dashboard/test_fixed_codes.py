"""Fixed codes for offline media on the numbers page (issue #21): given on a source number,
listed, taken back; another advertiser's number is not reachable."""

from __future__ import annotations

from typing import Any

import httpx

from tests.dashboard.conftest import login, pool_of_new_site
from tests.dashboard.seed import PASSWORD, Seeded


async def test_fixed_codes_on_the_numbers_page(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    pool = await pool_of_new_site(
        client, db, csrf, advertiser=seeded.adv_a, name="Codes", target="03-6666-8888"
    )
    done = await client.post(
        "/dashboard/settings/numbers",
        data={
            "csrf": csrf,
            "pool": str(pool),
            "number": "050-3333-9911",
            "kind": "source",
            "source_label": "offline",
        },
    )
    assert done.status_code == 303
    number = await db.fetchval("SELECT id FROM tracking_numbers WHERE number = '+815033339911'")
    page = await client.get("/dashboard/settings/numbers")
    assert 'id="fixed-code-form"' in page.text

    form = {"csrf": csrf, "number": str(number), "code": "11", "source_label": "flyer A"}
    given = await client.post("/dashboard/settings/numbers/codes", data=form)
    assert given.status_code == 303
    again = await client.post("/dashboard/settings/numbers/codes", data=form)
    assert again.status_code == 422
    bad = await client.post("/dashboard/settings/numbers/codes", data={**form, "code": "1x"})
    assert bad.status_code == 422
    page = await client.get("/dashboard/settings/numbers")
    assert "<td>flyer A</td>" in page.text
    code_id = await db.fetchval("SELECT id FROM fixed_codes WHERE number_id = :n", {"n": number})

    # Another advertiser's member reaches neither the number nor its code.
    other = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with other:
        csrf_b = await login(other, seeded.member_b, PASSWORD)
        r = await other.post(
            "/dashboard/settings/numbers/codes", data={**form, "csrf": csrf_b, "code": "12"}
        )
        assert r.status_code == 404
        r = await other.post(
            f"/dashboard/settings/numbers/codes/{code_id}/delete", data={"csrf": csrf_b}
        )
        assert r.status_code == 404
        assert "<td>flyer A</td>" not in (await other.get("/dashboard/settings/numbers")).text

    gone = await client.post(
        f"/dashboard/settings/numbers/codes/{code_id}/delete", data={"csrf": csrf}
    )
    assert gone.status_code == 303
    assert not await db.fetchval(
        "SELECT COUNT(*) FROM fixed_codes WHERE number_id = :n", {"n": number}
    )
