"""Dashboard pages in-process: headers, languages, the event stream, settings, bad input."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
import pytest

from backend.auth import token_digest
from backend.dashboard import fmt
from backend.dashboard.pool_health import pool_health
from backend.settings import Settings
from pool import health
from pool.scope import Scope
from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import CALLER_A, KEYWORD_A, PASSWORD, Seeded, add_call_a, add_session


async def test_dashboard_pages_carry_security_headers(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    login_page = await client.get("/login")
    await login(client, seeded.admin, PASSWORD)
    for response in (
        login_page,
        await client.get("/dashboard"),
        await client.get("/dashboard/calls/999999"),  # an error page too
    ):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    # No inline script or style anywhere (the CSP would block it).
    for path in ("/dashboard", "/dashboard/live", f"/dashboard/calls/{seeded.calls_a[0]}"):
        html = (await client.get(path)).text
        assert "<script>" not in html and "<style" not in html and ' style="' not in html
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/dashboard/static/app.js" defer>'
        ]


async def test_the_event_stream_is_not_gzipped_and_resumes_after_a_cursor(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.admin, PASSWORD)
    headers = {"accept-encoding": "gzip"}
    everything = await client.get("/dashboard/live/stream?after=0", headers=headers)
    assert everything.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in everything.headers  # GZipMiddleware skips event streams
    ids = [int(m) for m in re.findall(r"^id: (\d+)$", everything.text, re.M)]
    assert ids == sorted(seeded.calls_a + seeded.calls_b)
    resumed = await client.get(
        "/dashboard/live/stream", headers={**headers, "last-event-id": str(ids[0])}
    )
    assert [int(m) for m in re.findall(r"^id: (\d+)$", resumed.text, re.M)] == ids[1:]
    bad = await client.get("/dashboard/live/stream?after=abc")
    assert bad.status_code == 400
    # Ordinary pages are still compressed.
    page = await client.get("/dashboard", headers=headers)
    assert page.headers.get("content-encoding") == "gzip"


async def test_language_from_browser_then_user_setting(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    ja = {"accept-language": "ja-JP,ja;q=0.9,en;q=0.5"}
    assert "ログイン" in (await client.get("/login", headers=ja)).text
    assert (
        "Sign in" in (await client.get("/login", headers={"accept-language": "fr, en;q=0.4"})).text
    )
    csrf = await login(client, seeded.member_a, PASSWORD)
    assert "レポート" in (await client.get("/dashboard", headers=ja)).text
    switched = await client.post("/dashboard/locale", data={"csrf": csrf, "lang": "en"})
    assert switched.status_code == 303
    # The user's own setting now wins over the browser's language.
    page = await client.get("/dashboard", headers=ja)
    assert "Reports" in page.text and 'lang="en"' in page.text
    refused = await client.post("/dashboard/locale", data={"csrf": csrf, "lang": "xx"})
    assert refused.status_code == 422


async def test_callers_are_masked_unless_the_user_may_see_them(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    log = (await client.get("/dashboard/calls")).text
    assert fmt.mask(CALLER_A) in log and fmt.phone(CALLER_A) not in log
    assert fmt.mask(CALLER_A) == "090-****-5678"
    stream = (await client.get("/dashboard/live/stream?after=0")).text
    assert fmt.phone(CALLER_A) not in stream


async def test_report_and_drill_down(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await login(client, seeded.member_a, PASSWORD)
    report = await client.get("/dashboard?by=keyword&sort=key&dir=asc")
    assert report.status_code == 200
    assert KEYWORD_A in report.text
    assert "<svg" in report.text
    drill = await client.get("/dashboard/calls", params={"by": "keyword", "value": KEYWORD_A})
    assert f'href="/dashboard/calls/{seeded.calls_a[0]}"' in drill.text
    assert f'href="/dashboard/calls/{seeded.calls_a[1]}"' not in drill.text
    call = await client.get(f"/dashboard/calls/{seeded.calls_a[0]}")
    assert "料金表" in call.text and "Cj0KCQiA-test-gclid" in call.text
    # Its way through its call flow: the menu, the busy phone, the wait, who answered.
    journey = call.text[call.text.index('id="journey"') :]
    journey = journey[: journey.index("</section>")]
    for words in ("Call flow", "Menu choice", "[sales]", "Busy", "Left the line", "0:42"):
        assert words in journey, words
    assert 'id="menu-path">main:2<' in call.text and 'id="answered-by"' in call.text


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard?by=nope",
        "/dashboard?sort=nope",
        "/dashboard?from=2025-13-40",
        "/dashboard?from=2020-01-01&to=2025-01-01",
        "/dashboard?site=abc",
        "/dashboard?site=99999999999999999999999",
        "/dashboard/calls?bt=-1&bid=1",
        "/dashboard/calls?by=nope&value=x",
        "/dashboard/calls/999999",
    ],
)
async def test_bad_filters_get_a_clear_4xx(
    client: httpx.AsyncClient, seeded: Seeded, url: str
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    response = await client.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)


async def test_site_target_number_and_token_settings(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    made = await client.post(
        "/dashboard/settings/sites",
        data={
            "csrf": csrf,
            "advertiser": str(seeded.adv_a),
            "name": "Branch site",
            "domains": "branch.example.jp, www.branch.example.jp",
            "timezone": "Asia/Tokyo",
        },
    )
    assert made.status_code == 303
    site_url = made.headers["location"]
    page = await client.get(site_url)
    key = await db.fetchval("SELECT site_key FROM sites WHERE name = 'Branch site'")
    assert f'data-site="{key}"' in page.text.replace("&#34;", '"')
    bad_domain = await client.post(
        site_url, data={"csrf": csrf, "name": "x", "domains": "https://evil/", "timezone": ""}
    )
    assert bad_domain.status_code == 422
    bad_tz = await client.post(site_url, data={"csrf": csrf, "name": "x", "timezone": "Mars/Base"})
    assert bad_tz.status_code == 422
    assert await db.fetchval("SELECT name FROM sites WHERE site_key = :k", {"k": key}) == (
        "Branch site"
    )
    target = await client.post(
        site_url + "/targets", data={"csrf": csrf, "number": "03-6666-7777", "label": "Branch"}
    )
    assert target.status_code == 303
    pool_id = await db.fetchval(
        "SELECT p.id FROM pools p JOIN targets t ON t.id = p.target_id WHERE t.number = :n",
        {"n": "+81366667777"},
    )
    assert pool_id
    not_a_number = await client.post(
        site_url + "/targets", data={"csrf": csrf, "number": "hello", "label": ""}
    )
    assert not_a_number.status_code == 422
    added = await client.post(
        "/dashboard/settings/numbers",
        data={"csrf": csrf, "pool": str(pool_id), "number": "050-3333-4444", "kind": "pool"},
    )
    assert added.status_code == 303
    row = await db.fetchone(
        "SELECT forward_to, status FROM tracking_numbers WHERE number = '+815033334444'"
    )
    assert row == {"forward_to": "+81366667777", "status": "active"}
    number_id = await db.fetchval("SELECT id FROM tracking_numbers WHERE number = '+815033334444'")
    retired = await client.post(
        f"/dashboard/settings/numbers/{number_id}/retire", data={"csrf": csrf}
    )
    assert retired.status_code == 303
    assert (
        await db.fetchval("SELECT status FROM tracking_numbers WHERE id = :n", {"n": number_id})
        == "retired"
    )
    token_page = await client.post(
        "/dashboard/settings/tokens", data={"csrf": csrf, "name": "analyst"}
    )
    token = re.search(r'id="new-token">(cp_[^<]+)<', token_page.text)
    assert token
    listing = await client.get("/dashboard/settings/tokens")
    assert token.group(1) not in listing.text  # shown once
    stored = await db.fetchval("SELECT token_hash FROM api_tokens WHERE name = 'analyst'")
    assert stored == token_digest(token.group(1))  # only the digest is kept
    token_id = await db.fetchval("SELECT id FROM api_tokens WHERE name = 'analyst'")
    revoked = await client.post(
        f"/dashboard/settings/tokens/{token_id}/revoke", data={"csrf": csrf}
    )
    assert revoked.status_code == 303
    assert await db.fetchval("SELECT revoked_ms FROM api_tokens WHERE id = :i", {"i": token_id})


async def test_admin_manages_users_and_members_sign_in(
    client: httpx.AsyncClient, app: Any, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    created = await client.post(
        "/dashboard/settings/users",
        data={
            "csrf": csrf,
            "email": "New.Member@example.com",
            "password": "long-enough-pw",
            "role": "member",
            "advertiser": str(seeded.adv_b),
            "locale": "ja",
        },
    )
    assert created.status_code == 303
    user = await db.fetchone(
        "SELECT id, role, advertiser_id, locale FROM users WHERE email = 'new.member@example.com'"
    )
    assert user["advertiser_id"] == seeded.adv_b and user["locale"] == "ja"
    short = await client.post(
        "/dashboard/settings/users",
        data={"csrf": csrf, "email": "s@example.com", "password": "short", "role": "admin"},
    )
    assert short.status_code == 422
    orphan = await client.post(
        "/dashboard/settings/users",
        data={"csrf": csrf, "email": "o@example.com", "password": "long-enough", "role": "member"},
    )
    assert orphan.status_code == 422
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as member:
        await login(member, "new.member@example.com", "long-enough-pw")
        page = await member.get("/dashboard")
        assert 'lang="ja"' in page.text and "Rival site" in page.text
        assert "Demo site" not in page.text
        # Moving the member to another advertiser ends their open logins.
        moved = await client.post(
            f"/dashboard/settings/users/{user['id']}",
            data={"csrf": csrf, "role": "member", "advertiser": str(seeded.adv_a)},
        )
        assert moved.status_code == 303
        assert (await member.get("/dashboard")).status_code == 303


async def _lease_b_number(db: Any, seeded: Seeded, now: int) -> Any:
    """B's pool's one number held by the session of B's first call since a minute ago; the
    session."""
    session = await db.fetchval(
        "SELECT session_id FROM calls WHERE id = :c", {"c": seeded.calls_b[0]}
    )
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO leases (pool_id, number_id, session_id, started_ms, last_seen_ms,"
            " expires_ms) VALUES (:p, :n, :s, :t, :t, :e)",
            {
                "p": seeded.pool_b,
                "n": seeded.number_b,
                "s": session,
                "t": now - 60_000,
                "e": now + 3_600_000,
            },
        )
    return session


async def test_pool_health_flags_an_exhausted_pool(
    client: httpx.AsyncClient, db: Any, seeded: Seeded, settings: Settings
) -> None:
    # B's pool has one number: lease it, then refuse a second visitor.
    now = now_ms()
    session = await _lease_b_number(db, seeded, now)
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO pool_exhaustions (pool_id, session_id, ts_ms, outcome)"
            " VALUES (:p, :s, :t, 'original')",
            {"p": seeded.pool_b, "s": session, "t": now - 30_000},
        )
        await tx.execute("UPDATE pools SET exhausted_count = 3 WHERE id = :p", {"p": seeded.pool_b})
    rows = await pool_health(db, Scope.of(seeded.adv_b), settings)
    assert len(rows) == 1
    row = rows[0]
    assert (row["size"], row["in_use"], row["exhausted"], row["exhausted_total"]) == (1, 1, 1, 3)
    assert row["utilization"] == 1.0 and row["alert"] == "exhausted"
    assert row["recommended"] >= 1
    await login(client, seeded.member_b, PASSWORD)
    page = (await client.get("/dashboard/pools")).text
    assert "Pool ran out of numbers" in page and "100.0%" in page
    assert "Demo site" not in page
    await login(client, seeded.member_a, PASSWORD)
    assert "Pool ran out of numbers" not in (await client.get("/dashboard/pools")).text


async def test_pool_health_reads_the_safety_factor_and_alert_level_like_the_api(
    db: Any, seeded: Seeded, settings: Settings
) -> None:
    # One number busy in the window: the peak demand is 1, so the advice is the safety factor.
    await _lease_b_number(db, seeded, now_ms())
    careful = replace(settings, pool_safety_factor=3.0, pool_alert_utilization=1.5)
    [plain] = await pool_health(db, Scope.of(seeded.adv_b), settings)
    [row] = await pool_health(db, Scope.of(seeded.adv_b), careful)
    api = await health.pool_health(
        db, pool_id=seeded.pool_b, now_ms=now_ms(), safety=3.0, alert_at=1.5
    )
    assert (plain["recommended"], plain["alert"]) == (1, "high")
    assert (row["recommended"], row["alert"]) == (api.recommended_size, "") == (3, "")


async def test_rules_blocked_callers_and_notification_targets(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    site = f"/dashboard/settings/sites/{seeded.site_a}"
    rule = await client.post(
        site + "/rules",
        data={
            "csrf": csrf,
            "kind": "source",
            "match_key": "source",
            "match_value": "yahoo",
            "action": "original",
            "priority": "10",
            "label": "Yahoo keeps the main number",
        },
    )
    assert rule.status_code == 303
    page = await client.get(site + "/rules")
    assert "Yahoo keeps the main number" in page.text
    wrong = await client.post(
        site + "/rules", data={"csrf": csrf, "kind": "source", "match_key": "x", "action": "pool"}
    )
    assert wrong.status_code == 422  # pool.rules refuses it, with its reason
    assert (
        await db.fetchval(
            "SELECT COUNT(*) FROM source_rules WHERE site_id = :s", {"s": seeded.site_a}
        )
        == 1
    )
    blocked = await client.post(
        "/dashboard/settings/blocked",
        data={"csrf": csrf, "kind": "exact", "pattern": "090-7777-8888", "note": "spam"},
    )
    assert blocked.status_code == 303
    assert (
        await db.fetchval(
            "SELECT pattern FROM blocked_callers WHERE advertiser_id = :a AND note = 'spam'",
            {"a": seeded.adv_a},
        )
        == "+819077778888"
    )
    bad_prefix = await client.post(
        "/dashboard/settings/blocked", data={"csrf": csrf, "kind": "prefix", "pattern": "abc"}
    )
    assert bad_prefix.status_code == 422
    webhook = {"csrf": csrf, "kind": "webhook", "event": "started"}
    for address, status in (("https://ops.example.jp/calls", 303), ("javascript:alert(1)", 422)):
        hook = await client.post(
            "/dashboard/settings/notifications", data={**webhook, "address": address}
        )
        assert hook.status_code == status, address
    listing = (await client.get("/dashboard/settings/notifications")).text
    assert "https://ops.example.jp/calls" in listing and "rival.example.jp" not in listing
    # Qualification rules are an administrator's (a member gets 403: tests/dashboard/test_access).
    admin_csrf = await login(client, seeded.admin, PASSWORD)
    qual = await client.post(
        site + "/qualification",
        data={"csrf": admin_csrf, "min_talk_s": "90", "require_answered": "1"},
    )
    assert qual.status_code == 303
    stored = await db.fetchone(
        "SELECT min_talk_s, require_answered, require_first_time FROM qualification_rules"
        " WHERE site_id = :s",
        {"s": seeded.site_a},
    )
    assert stored == {"min_talk_s": 90, "require_answered": 1, "require_first_time": 0}


async def test_pool_settings_and_unknown_dashboard_pages(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    url = f"/dashboard/pools/{seeded.pool_b}"
    form = {"csrf": csrf, "name": "Rival main", "ttl_min": "45", "grace_min": "5"}
    saved = await client.post(url, data={**form, "cooldown_min": "20"})
    assert saved.status_code == 303
    row = await db.fetchone(
        "SELECT name, ttl_ms, grace_ms, cooldown_ms FROM pools WHERE id = :p", {"p": seeded.pool_b}
    )
    assert row == {
        "name": "Rival main",
        "ttl_ms": 2_700_000,
        "grace_ms": 300_000,
        "cooldown_ms": 1_200_000,
    }
    for bad in ("-1", "abc", "100000", ""):
        refused = await client.post(url, data={**form, "cooldown_min": bad})
        assert refused.status_code in {400, 422}, bad
    assert (
        await db.fetchval("SELECT cooldown_ms FROM pools WHERE id = :p", {"p": seeded.pool_b})
    ) == 1_200_000
    missing = await client.get("/dashboard/nothing/here")
    assert missing.status_code == 404
    assert missing.headers["x-frame-options"] == "DENY"


def test_urls_are_shown_decoded_for_people() -> None:
    """Landing pages, referrers and page URLs read as people typed them (issue #17)."""
    assert fmt.url_text("https://a.jp/%E6%96%99%E9%87%91?q=%E6%AD%AF") == "https://a.jp/料金?q=歯"
    assert fmt.url_text("https://a.jp/%FF%FE") == "https://a.jp/%FF%FE"  # not UTF-8: as stored
    assert fmt.url_text("https://a.jp/a%0Ab") == "https://a.jp/a%0Ab"  # a line break stays escaped
    assert fmt.url_text("https://a.jp/%E2%80%AEx") == "https://a.jp/%E2%80%AEx"  # bidi override
    assert fmt.url_text(None) == ""


async def test_call_page_and_landing_report_show_decoded_urls(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    await login(client, seeded.admin, PASSWORD)
    async with db.write() as conn:
        sid = await add_session(
            conn,
            seeded.site_a,
            now_ms() - 3_600_000,
            channel="organic",
            landing_url="https://demo.example.jp/%E6%96%99%E9%87%91?utm_term=%E6%AD%AF",
        )
        call = await add_call_a(
            conn, seeded, caller="+819000000003", started_ms=now_ms() - 3_000_000, session_id=sid
        )
    page = (await client.get(f"/dashboard/calls/{call}")).text
    assert "https://demo.example.jp/料金?utm_term=歯" in page
    report = await client.get("/dashboard?by=landing_page")
    assert "https://demo.example.jp/料金" in report.text
