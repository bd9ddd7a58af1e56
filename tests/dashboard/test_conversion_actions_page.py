"""Conversion actions on the dashboard: add one, download its files, a feed URL shown once,
revoked; nothing of another advertiser reachable."""

from __future__ import annotations

import re

import httpx

from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded

PAGE = "/dashboard/settings/conversions"


async def test_a_member_adds_an_action_downloads_it_and_makes_a_feed(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    empty = await client.get(PAGE)
    assert empty.status_code == 200 and 'id="actions-empty"' in empty.text
    assert "Rival" not in empty.text  # B's action stays B's
    form = {
        "csrf": csrf,
        "site": str(seeded.site_a),
        "platform": "google",
        "name": "有効電話 (渋谷)",
        "qualified_only": "1",
        "min_talk_s": "30",
        "value_from": "fixed",
        "value": "5000",
        "currency": "JPY",
    }
    added = await client.post(PAGE, data=form)
    assert added.status_code == 303, added.text
    listed = await client.get(PAGE)
    action_id = int(re.search(r'id="action-(\d+)"', listed.text).group(1))  # type: ignore[union-attr]
    assert "有効電話 (渋谷)" in listed.text
    again = await client.post(PAGE, data=form)  # the same name twice: refused by the field
    assert again.status_code == 422 and 'id="action-form"' in again.text
    new = await client.post(f"{PAGE}/{action_id}/export", data={"csrf": csrf})
    assert new.status_code == 200
    assert new.headers["content-disposition"].startswith("attachment;")
    assert "Google Click ID" in new.text and ",有効電話," not in new.text.splitlines()[1]
    adjustments = await client.post(f"{PAGE}/{action_id}/adjustments", data={"csrf": csrf})
    assert adjustments.status_code == 200 and "Adjustment Type" in adjustments.text
    made = await client.post(f"{PAGE}/{action_id}/feeds", data={"csrf": csrf})
    assert made.status_code == 200
    url = re.search(r'<code id="new-feed-url">([^<]+)</code>', made.text).group(1)  # type: ignore[union-attr]
    path = url.removeprefix("http://testserver")
    assert (await client.get(path)).status_code == 200
    assert path not in (await client.get(PAGE)).text  # shown once
    feed_id = int(re.search(r'id="feed-(\d+)"', made.text).group(1))  # type: ignore[union-attr]
    revoked = await client.post(
        f"/dashboard/settings/conversion-feeds/{feed_id}/revoke", data={"csrf": csrf}
    )
    assert revoked.status_code == 303
    assert (await client.get(path)).status_code == 404
    # Another advertiser's member reaches none of it.
    await client.post("/logout", data={"csrf": csrf})
    other = await login(client, seeded.member_b, PASSWORD)
    assert f'id="action-{action_id}"' not in (await client.get(PAGE)).text
    for suffix in ("export", "adjustments", "feeds"):
        refused = await client.post(f"{PAGE}/{action_id}/{suffix}", data={"csrf": other})
        assert refused.status_code == 404, suffix


async def test_the_action_form_refuses_bad_values_by_their_field(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    base = {"csrf": csrf, "site": str(seeded.site_a), "platform": "google", "name": "電話"}
    for extra in ({"value": "1e3"}, {"min_talk_s": "abc"}, {"platform": "linkedin"}):
        refused = await client.post(PAGE, data={**base, **extra})
        assert refused.status_code == 422, extra
    other_site = await client.post(PAGE, data={**base, "site": str(seeded.site_b)})
    assert other_site.status_code == 422
    no_csrf = await client.post(PAGE, data={k: v for k, v in base.items() if k != "csrf"})
    assert no_csrf.status_code == 403
