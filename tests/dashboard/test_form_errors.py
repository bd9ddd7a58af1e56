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


async def _refused(
    client: httpx.AsyncClient,
    url: str,
    data: dict[str, str],
    *,
    status: int = 422,
    ja: bool = False,
) -> str:
    """Posts ``data`` to ``url``; the answer must be ``status`` and a whole page in the layout."""
    page = await client.post(url, data=data, headers=JA if ja else None)
    assert page.status_code == status, page.text
    assert _in_layout(page.text)
    return page.text


async def test_new_site_with_a_bad_timezone_keeps_what_was_typed_in_japanese(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    site = {"name": "渋谷院 <新>", "domains": "shibuya.example.jp", "timezone": "Asia/Shibuya"}
    data = {"csrf": csrf, "advertiser": str(seeded.adv_a), **site}
    page = await _refused(client, "/dashboard/settings/sites", data, ja=True)
    assert "タイムゾーン Asia/Shibuya は使えません" in _field_error(page, "timezone")
    assert _value(page, "name") == "渋谷院 &lt;新&gt;"
    assert _value(page, "domains") == "shibuya.example.jp"
    assert _value(page, "timezone") == "Asia/Shibuya"
    # The chosen advertiser stays chosen; the CSRF token is the page's own.
    assert re.search(rf'<option[^>]*value="{seeded.adv_a}"[^>]*selected', page)
    assert f'name="csrf" value="{csrf}"' in page
    # Nothing was stored.
    sites = await client.get("/dashboard/settings/sites")
    assert "渋谷院" not in sites.text


async def test_new_site_without_an_advertiser_or_name(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    url = "/dashboard/settings/sites"
    data = {"csrf": csrf, "advertiser": "", "name": "x", "timezone": "Asia/Tokyo"}
    page = await _refused(client, url, data)
    assert _field_error(page, "advertiser") == "Choose an advertiser."
    data = {"csrf": csrf, "advertiser": str(seeded.adv_a), "name": " ", "timezone": ""}
    page = await _refused(client, url, data, ja=True)
    assert _field_error(page, "name") == "入力してください。"


async def test_site_settings_with_a_bad_host(client: httpx.AsyncClient, seeded: Seeded) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    path = f"/dashboard/settings/sites/{seeded.site_b}"
    data = {"csrf": csrf, "name": "Rival 2", "domains": "https://x.jp/", "timezone": "UTC"}
    page = await _refused(client, path, data)
    assert "https://x.jp/ is not a host name" in _field_error(page, "domains")
    assert _value(page, "name") == "Rival 2"
    assert _value(page, "domains") == "https://x.jp/"


async def test_business_number_invalid_then_duplicate(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    url = f"/dashboard/settings/sites/{seeded.site_b}/targets"
    bad = await _refused(client, url, {"csrf": csrf, "number": "03-12", "label": "本院"}, ja=True)
    assert _field_error(bad, "number") == "03-12 は正しい電話番号ではありません。"
    assert _value(bad, "number") == "03-12" and _value(bad, "label") == "本院"
    # The page is the site's page, with its other form untouched.
    assert "Rival" in bad
    data = {"csrf": csrf, "number": "03-5555-0000", "label": "x"}
    twice = await _refused(client, url, data, status=409)
    assert _field_error(twice, "number") == "This number is already on the site."
    assert _value(twice, "number") == "03-5555-0000"


async def test_pool_timings_out_of_range_open_the_pool_form(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    timings = {"ttl_min": "0", "grace_min": "5", "cooldown_min": "5"}
    data = {"csrf": csrf, "name": "Rival pool", **timings}
    page = await _refused(client, f"/dashboard/pools/{seeded.pool_b}", data, ja=True)
    assert _field_error(page, "ttl_min") == "1〜1440 の整数 (分) で入力してください。"
    assert _value(page, "ttl_min") == "0"
    assert "<details open" in page
    ttl = await db.fetchval("SELECT ttl_ms FROM pools WHERE id = :p", {"p": seeded.pool_b})
    assert ttl and ttl > 0


async def test_new_user_with_a_taken_email_and_a_short_password(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    member = {"csrf": csrf, "role": "member", "advertiser": str(seeded.adv_b)}
    data = {**member, "email": seeded.member_b, "password": "long-enough-1"}
    taken = await _refused(client, "/dashboard/settings/users", data, status=409, ja=True)
    assert _field_error(taken, "email") == "このメールアドレスのユーザーはすでに登録されています。"
    assert _value(taken, "email") == seeded.member_b
    # A password is never sent back into the page.
    assert "long-enough-1" not in taken
    user_url = f"/dashboard/settings/users/{seeded.user_b}"
    short = await _refused(client, user_url, {**member, "password": "short"})
    assert _field_error(_form(short, user_url), "password") == (
        "A password has 8 to 1024 characters."
    )
    # That user's form is the one opened and filled; the others are as they were.
    assert "<details open>" in short and short.count("field-error") == 1


async def test_token_and_advertiser_without_a_name(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    data = {"csrf": csrf, "name": " ", "read_only": "1"}
    token = await _refused(client, "/dashboard/settings/tokens", data)
    assert _field_error(token, "name") == "Fill this in."
    assert re.search(r'name="read_only"[^>]*checked', token)
    long_name = "広" * 201
    data = {"csrf": csrf, "name": long_name}
    adv = await _refused(client, "/dashboard/advertisers", data, ja=True)
    assert _field_error(adv, "name") == "200文字以内で入力してください。"
    assert _value(adv, "name") == long_name


async def test_account_with_a_wrong_current_password(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    passwords = {"current_password": "not-it-at-all", "password": "new-password-1"}
    data = {"csrf": csrf, "locale": "ja", **passwords}
    page = await _refused(client, "/dashboard/account", data, status=403, ja=True)
    assert _field_error(page, "current_password") == "現在のパスワードが違います。"
    assert "not-it-at-all" not in page and "new-password-1" not in page
    assert re.search(r'<option[^>]*value="ja"[^>]*selected', page)


async def test_tracking_number_that_is_not_a_number(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    url = "/dashboard/settings/numbers"
    data = {"csrf": csrf, "pool": str(seeded.pool_b), "number": "050-12", "kind": "pool"}
    page = await _refused(client, url, data, ja=True)
    assert _field_error(page, "number") == "050-12 は正しい電話番号ではありません。"
    assert _value(page, "number") == "050-12"
    assert re.search(rf'<option[^>]*value="{seeded.pool_b}"[^>]*selected', page)
    # A number another row already has: the domain's reason after the translated words.
    stored = await client.get(url)
    assert stored.status_code == 200
    data = {"csrf": csrf, "pool": str(seeded.pool_b), "number": "050-9999-0001"}
    again = await _refused(client, url, data)
    assert _field_error(again, "number").startswith("This number cannot be added:")


async def test_blocked_prefix_rules_and_notifications(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    data = {"csrf": csrf, "kind": "prefix", "pattern": "0120", "note": "営業電話"}
    blocked = await _refused(client, "/dashboard/settings/blocked", data, ja=True)
    assert "+8150" in _field_error(blocked, "pattern")
    assert _value(blocked, "note") == "営業電話" and _value(blocked, "pattern") == "0120"
    rules_url = f"/dashboard/settings/sites/{seeded.site_b}/rules"
    data = {"csrf": csrf, "kind": "param", "match_key": "utm_source", "priority": "first"}
    rule = await _refused(client, rules_url, data)
    assert _field_error(rule, "priority") == "Enter a whole number."
    assert _value(rule, "match_key") == "utm_source"
    data = {"csrf": csrf, "kind": "webhook", "address": "not a url", "event": "completed"}
    notify = await _refused(client, "/dashboard/settings/notifications", data)
    assert _field_error(notify, "address").startswith("This cannot be saved:")
    assert _value(notify, "address") == "not a url"


async def test_qualification_out_of_range(client: httpx.AsyncClient, seeded: Seeded) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    url = f"/dashboard/settings/sites/{seeded.site_b}/qualification"
    data = {"csrf": csrf, "min_talk_s": "999999", "first_time_days": "30"}
    page = await _refused(client, url, data, ja=True)
    assert _field_error(page, "min_talk_s") == "0〜86400 の整数で入力してください。"
    assert _value(page, "min_talk_s") == "999999"
