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


def _form(html: str, action: str) -> str:
    """The form posting to ``action`` on a page of several."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', html, re.DOTALL)
    assert found, action
    return found.group(0)


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


async def test_new_user_with_a_taken_email_and_a_short_password(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    taken = await client.post(
        "/dashboard/settings/users",
        data={
            "csrf": csrf,
            "email": seeded.member_b,
            "password": "long-enough-1",
            "role": "member",
            "advertiser": str(seeded.adv_b),
        },
        headers=JA,
    )
    assert taken.status_code == 409 and _in_layout(taken.text)
    assert (
        _field_error(taken.text, "email")
        == "このメールアドレスのユーザーはすでに登録されています。"
    )
    assert _value(taken.text, "email") == seeded.member_b
    # A password is never sent back into the page.
    assert "long-enough-1" not in taken.text
    short = await client.post(
        f"/dashboard/settings/users/{seeded.user_b}",
        data={
            "csrf": csrf,
            "role": "member",
            "advertiser": str(seeded.adv_b),
            "password": "short",
        },
    )
    assert short.status_code == 422 and _in_layout(short.text)
    form = _form(short.text, f"/dashboard/settings/users/{seeded.user_b}")
    assert _field_error(form, "password") == "A password has 8 to 1024 characters."
    # That user's form is the one opened and filled; the others are as they were.
    assert "<details open>" in short.text and short.text.count("field-error") == 1


async def test_token_and_advertiser_without_a_name(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    token = await client.post(
        "/dashboard/settings/tokens", data={"csrf": csrf, "name": " ", "read_only": "1"}
    )
    assert token.status_code == 422 and _in_layout(token.text)
    assert _field_error(token.text, "name") == "Fill this in."
    assert re.search(r'name="read_only"[^>]*checked', token.text)
    long_name = "広" * 201
    adv = await client.post(
        "/dashboard/advertisers", data={"csrf": csrf, "name": long_name}, headers=JA
    )
    assert adv.status_code == 422 and _in_layout(adv.text)
    assert _field_error(adv.text, "name") == "200文字以内で入力してください。"
    assert _value(adv.text, "name") == long_name


async def test_account_with_a_wrong_current_password(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    page = await client.post(
        "/dashboard/account",
        data={
            "csrf": csrf,
            "locale": "ja",
            "current_password": "not-it-at-all",
            "password": "new-password-1",
        },
        headers=JA,
    )
    assert page.status_code == 403 and _in_layout(page.text)
    assert _field_error(page.text, "current_password") == "現在のパスワードが違います。"
    assert "not-it-at-all" not in page.text and "new-password-1" not in page.text
    assert re.search(r'<option[^>]*value="ja"[^>]*selected', page.text)


async def test_tracking_number_that_is_not_a_number(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    page = await client.post(
        "/dashboard/settings/numbers",
        data={"csrf": csrf, "pool": str(seeded.pool_b), "number": "050-12", "kind": "pool"},
        headers=JA,
    )
    assert page.status_code == 422 and _in_layout(page.text)
    assert _field_error(page.text, "number") == "050-12 は正しい電話番号ではありません。"
    assert _value(page.text, "number") == "050-12"
    assert re.search(rf'<option[^>]*value="{seeded.pool_b}"[^>]*selected', page.text)
    # A number another row already has: the domain's reason after the translated words.
    stored = await client.get("/dashboard/settings/numbers")
    assert stored.status_code == 200
    again = await client.post(
        "/dashboard/settings/numbers",
        data={"csrf": csrf, "pool": str(seeded.pool_b), "number": "050-9999-0001"},
    )
    assert again.status_code == 422 and _in_layout(again.text)
    assert _field_error(again.text, "number").startswith("This number cannot be added:")


async def test_blocked_prefix_rules_and_notifications(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    blocked = await client.post(
        "/dashboard/settings/blocked",
        data={"csrf": csrf, "kind": "prefix", "pattern": "0120", "note": "営業電話"},
        headers=JA,
    )
    assert blocked.status_code == 422 and _in_layout(blocked.text)
    assert "+8150" in _field_error(blocked.text, "pattern")
    assert _value(blocked.text, "note") == "営業電話" and _value(blocked.text, "pattern") == "0120"
    rules_url = f"/dashboard/settings/sites/{seeded.site_b}/rules"
    rule = await client.post(
        rules_url,
        data={"csrf": csrf, "kind": "param", "match_key": "utm_source", "priority": "first"},
    )
    assert rule.status_code == 422 and _in_layout(rule.text)
    assert _field_error(rule.text, "priority") == "Enter a whole number."
    assert _value(rule.text, "match_key") == "utm_source"
    notify = await client.post(
        "/dashboard/settings/notifications",
        data={"csrf": csrf, "kind": "webhook", "address": "not a url", "event": "completed"},
    )
    assert notify.status_code == 422 and _in_layout(notify.text)
    assert _field_error(notify.text, "address").startswith("This cannot be saved:")
    assert _value(notify.text, "address") == "not a url"


async def test_qualification_out_of_range(client: httpx.AsyncClient, seeded: Seeded) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    page = await client.post(
        f"/dashboard/settings/sites/{seeded.site_b}/qualification",
        data={"csrf": csrf, "min_talk_s": "999999", "first_time_days": "30"},
        headers=JA,
    )
    assert page.status_code == 422 and _in_layout(page.text)
    assert _field_error(page.text, "min_talk_s") == "0〜86400 の整数で入力してください。"
    assert _value(page.text, "min_talk_s") == "999999"
