"""A refused dashboard form comes back as its own page: the navigation around it, the reason
in the user's language next to the field, and what was typed still in the form."""

from __future__ import annotations

import re

import httpx

from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded

JA = {"accept-language": "ja"}


def _field_error(html: str, field: str) -> str:
    """The error shown right after the field named ``field`` (empty when there is none)."""
    tag = re.search(rf'<(?:input|select|textarea)[^>]*\bname="{field}"', html)
    if tag is None:
        return ""
    error = re.compile(r'<span class="field-error" role="alert">([^<]*)</span>')
    found = error.search(html, tag.end())
    # Right after it: no other field in between.
    if found is None or "name=" in html[tag.end() : found.start()]:
        return ""
    return found.group(1)


def _value(html: str, field: str) -> str:
    found = re.search(rf'<input[^>]*\bname="{field}"[^>]*\bvalue="([^"]*)"', html)
    return found.group(1) if found else ""


def _in_layout(html: str) -> bool:
    return "<nav" in html and 'href="/dashboard/calls"' in html


async def test_new_site_with_a_bad_timezone_keeps_what_was_typed_in_japanese(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    page = await client.post(
        "/dashboard/settings/sites",
        data={
            "csrf": csrf,
            "advertiser": str(seeded.adv_a),
            "name": "渋谷院 <新>",
            "domains": "shibuya.example.jp",
            "timezone": "Asia/Shibuya",
        },
        headers=JA,
    )
    assert page.status_code == 422
    assert _in_layout(page.text)
    assert "タイムゾーン Asia/Shibuya は使えません" in _field_error(page.text, "timezone")
    assert _value(page.text, "name") == "渋谷院 &lt;新&gt;"
    assert _value(page.text, "domains") == "shibuya.example.jp"
    assert _value(page.text, "timezone") == "Asia/Shibuya"
    # The chosen advertiser stays chosen; the CSRF token is the page's own.
    assert re.search(rf'<option[^>]*value="{seeded.adv_a}"[^>]*selected', page.text)
    assert f'name="csrf" value="{csrf}"' in page.text
    # Nothing was stored.
    sites = await client.get("/dashboard/settings/sites")
    assert "渋谷院" not in sites.text


async def test_new_site_without_an_advertiser_or_name(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    page = await client.post(
        "/dashboard/settings/sites",
        data={"csrf": csrf, "advertiser": "", "name": "x", "timezone": "Asia/Tokyo"},
    )
    assert page.status_code == 422 and _in_layout(page.text)
    assert _field_error(page.text, "advertiser") == "Choose an advertiser."
    page = await client.post(
        "/dashboard/settings/sites",
        data={"csrf": csrf, "advertiser": str(seeded.adv_a), "name": " ", "timezone": ""},
        headers=JA,
    )
    assert _field_error(page.text, "name") == "入力してください。"


async def test_site_settings_with_a_bad_host(client: httpx.AsyncClient, seeded: Seeded) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    path = f"/dashboard/settings/sites/{seeded.site_b}"
    page = await client.post(
        path,
        data={"csrf": csrf, "name": "Rival 2", "domains": "https://x.jp/", "timezone": "UTC"},
    )
    assert page.status_code == 422 and _in_layout(page.text)
    assert "https://x.jp/ is not a host name" in _field_error(page.text, "domains")
    assert _value(page.text, "name") == "Rival 2"
    assert _value(page.text, "domains") == "https://x.jp/"


async def test_business_number_invalid_then_duplicate(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    url = f"/dashboard/settings/sites/{seeded.site_b}/targets"
    bad = await client.post(
        url, data={"csrf": csrf, "number": "03-12", "label": "本院"}, headers=JA
    )
    assert bad.status_code == 422 and _in_layout(bad.text)
    assert _field_error(bad.text, "number") == "03-12 は正しい電話番号ではありません。"
    assert _value(bad.text, "number") == "03-12" and _value(bad.text, "label") == "本院"
    # The page is the site's page, with its other form untouched.
    assert "Rival" in bad.text
    twice = await client.post(url, data={"csrf": csrf, "number": "03-5555-0000", "label": "x"})
    assert twice.status_code == 409 and _in_layout(twice.text)
    assert _field_error(twice.text, "number") == "This number is already on the site."
    assert _value(twice.text, "number") == "03-5555-0000"


async def test_pool_timings_out_of_range_open_the_pool_form(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    page = await client.post(
        f"/dashboard/pools/{seeded.pool_b}",
        data={
            "csrf": csrf,
            "name": "Rival pool",
            "ttl_min": "0",
            "grace_min": "5",
            "cooldown_min": "5",
        },
        headers=JA,
    )
    assert page.status_code == 422 and _in_layout(page.text)
    assert _field_error(page.text, "ttl_min") == "1〜1440 の整数 (分) で入力してください。"
    assert _value(page.text, "ttl_min") == "0"
    assert "<details open" in page.text
    ttl = await db.fetchval("SELECT ttl_ms FROM pools WHERE id = :p", {"p": seeded.pool_b})
    assert ttl and ttl > 0
