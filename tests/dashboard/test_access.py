"""Who may see what: every dashboard route, walked from the route table, for a member of
advertiser A reaching for advertiser B's records; CSRF on every form; login and logout."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.routing import Route

from backend.dashboard.routes import routes as dashboard_routes
from tests.dashboard.conftest import login
from tests.dashboard.seed import CALLER_B, KEYWORD_B, PASSWORD, Seeded

# What B's record is for each route with an id in its path.
ID_OF = {
    "/dashboard/calls/{id:int}": lambda s: s.calls_b[0],
    "/dashboard/calls/{id:int}/work": lambda s: s.calls_b[0],
    "/dashboard/calls/{id:int}/dispute": lambda s: s.calls_b[0],
    "/dashboard/settings/sites/{id:int}": lambda s: s.site_b,
    "/dashboard/settings/sites/{id:int}/targets": lambda s: s.site_b,
    "/dashboard/settings/sites/{id:int}/numbers-mode": lambda s: s.site_b,
    "/dashboard/settings/numbers/{id:int}/retire": lambda s: s.number_b,
    "/dashboard/settings/numbers/codes/{id:int}/delete": lambda s: s.code_b,
    "/dashboard/settings/tokens/{id:int}/revoke": lambda s: s.token_b,
    "/dashboard/settings/users/{id:int}": lambda s: s.user_b,
    "/dashboard/settings/sites/{id:int}/rules": lambda s: s.site_b,
    "/dashboard/settings/sites/{id:int}/qualification": lambda s: s.site_b,
    "/dashboard/settings/rules/{id:int}/delete": lambda s: s.rule_b,
    "/dashboard/settings/blocked/{id:int}/delete": lambda s: s.blocked_b,
    "/dashboard/settings/notifications/{id:int}/remove": lambda s: s.notify_b,
    "/dashboard/pools/{id:int}": lambda s: s.pool_b,
    "/dashboard/pools/{id:int}/advertiser": lambda s: s.pool_b,
    "/dashboard/settings/targets/{id:int}/flow": lambda s: s.target_b,
    "/dashboard/settings/targets/{id:int}/flow/add/{kind:str}": lambda s: s.target_b,
    "/dashboard/settings/targets/{id:int}/flow/steps/{step:str}": lambda s: s.target_b,
    "/dashboard/settings/targets/{id:int}/flow/rollback": lambda s: s.target_b,
    "/dashboard/settings/targets/{id:int}/flow/{which:str}": lambda s: s.target_b,
    "/dashboard/settings/targets/{id:int}/flow/{which:str}/add/{kind:str}": lambda s: s.target_b,
    "/dashboard/settings/targets/{id:int}/flow/{which:str}/steps/{step:str}": lambda s: s.target_b,
    "/dashboard/conversions/batches/{id:int}/file": lambda s: s.batch_b,
    "/dashboard/settings/conversions/{id:int}/export": lambda s: s.action_b,
    "/dashboard/settings/conversions/{id:int}/adjustments": lambda s: s.action_b,
    "/dashboard/settings/conversions/{id:int}/feeds": lambda s: s.action_b,
    "/dashboard/settings/conversion-feeds/{id:int}/revoke": lambda s: s.feed_b,
    "/dashboard/conversions/batches/{id:int}/void": lambda s: s.batch_b,
    "/dashboard/settings/analysis/{id:int}": lambda s: s.adv_b,
    "/dashboard/settings/analysis/{id:int}/rules": lambda s: s.adv_b,
    "/dashboard/settings/analysis/{id:int}/rules/{rule:int}": lambda s: s.adv_b,
    "/dashboard/settings/analysis/{id:int}/rules/{rule:int}/retire": lambda s: s.adv_b,
    "/dashboard/settings/analysis/{id:int}/retention": lambda s: s.adv_b,
}
# Forms that would change B's data if scope were not checked.
FORM = {
    "/dashboard/locale": {"lang": "en"},
    "/dashboard/account": {"locale": ""},
    "/dashboard/settings/sites/{id:int}": {"name": "hijacked", "domains": "", "timezone": ""},
    "/dashboard/settings/sites/{id:int}/targets": {"number": "03-5555-1234", "label": "x"},
    "/dashboard/settings/numbers": {"pool": "{pool_b}", "number": "050-9999-0002"},
    "/dashboard/settings/numbers/bulk": {"pool": "{pool_b}", "numbers": "050-9999-0002"},
    "/dashboard/settings/numbers/codes": {"number": "{number_b}", "code": "11"},
    "/dashboard/settings/users/{id:int}": {"role": "member", "advertiser": "{adv_a}"},
    "/dashboard/settings/users": {"email": "x@example.com", "password": "12345678"},
    "/dashboard/settings/analysis/{id:int}/rules": {"phrase": "乗っ取り", "tag": "x"},
    "/dashboard/settings/analysis/{id:int}/rules/{rule:int}": {"phrase": "乗っ取り", "tag": "x"},
    "/dashboard/settings/analysis/{id:int}/retention": {"days": "1"},
    "/dashboard/advertisers": {"name": "Hijack"},
    "/dashboard/calls/{id:int}/work": {"note": "hijacked", "tags": "x"},
    "/dashboard/calls/{id:int}/dispute": {"reason": "hijacked"},
    "/dashboard/billing/statement/close": {"advertiser": "{adv_b}", "month": "2020-01"},
    "/dashboard/billing/statement/send": {"advertiser": "{adv_b}", "month": "2020-01"},
    "/dashboard/billing/plans": {
        "advertiser": "{adv_b}",
        "effective_from": "2020-01-01",
        "price_0": "1",
    },
    "/dashboard/billing/disputes": {"dispute": "{dispute_b}", "decision": "accepted"},
    "/dashboard/settings/sites/{id:int}/numbers-mode": {
        "visit_codes": "1",
        "number_per_visitor": "1",
    },
    "/dashboard/settings/outcomes": {"label": "x", "kind": "lost"},
    "/dashboard/conversions/batches/new": {"platform": "google", "advertiser": "{adv_b}"},
    "/dashboard/settings/conversions": {"site": "{site_b}", "platform": "google", "name": "x"},
    "/dashboard/settings/targets/{id:int}/flow/add/{kind:str}": {
        "step_id": "hijack",
        "destinations": "090-1111-2222",
    },
    "/dashboard/settings/targets/{id:int}/flow/steps/{step:str}": {"destinations": "0311112222"},
    "/dashboard/settings/targets/{id:int}/flow/rollback": {"version": "1"},
    "/dashboard/settings/targets/{id:int}/flow/{which:str}/add/{kind:str}": {
        "step_id": "hijack",
        "destinations": "090-1111-2222",
    },
    "/dashboard/settings/targets/{id:int}/flow/{which:str}/steps/{step:str}": {
        "destinations": "0311112222"
    },
    "/dashboard/settings/sites": {"name": "x", "advertiser": "{adv_b}"},
    "/dashboard/settings/tokens": {"name": "x", "advertiser": "{adv_b}"},
    "/dashboard/settings/sites/{id:int}/rules": {
        "kind": "param",
        "match_key": "gclid",
        "action": "original",
    },
    "/dashboard/settings/sites/{id:int}/qualification": {"min_talk_s": "1"},
    "/dashboard/pools/{id:int}": {
        "name": "hijacked",
        "ttl_min": "1",
        "grace_min": "0",
        "cooldown_min": "0",
    },
    "/dashboard/settings/blocked": {
        "advertiser": "{adv_b}",
        "kind": "exact",
        "pattern": "090-1111-0000",
    },
    "/dashboard/settings/notifications": {
        "advertiser": "{adv_b}",
        "kind": "webhook",
        "address": "https://a.example/x",
        "event": "completed",
    },
}
# Pages a member may open; each must not mention B.
OPEN_TO_MEMBERS = {
    "/dashboard",
    "/dashboard/reports",
    "/dashboard/advertisers",
    "/dashboard/calls",
    "/dashboard/live",
    "/dashboard/live/stream",
    "/dashboard/pools",
    "/dashboard/settings/sites",
    "/dashboard/settings/numbers",
    "/dashboard/settings/tokens",
    "/dashboard/account",
}
# Reached without a login: sign-in, sign-out, and the first-run set-up (a 404 once a
# user exists: tests/dashboard/test_first_run.py).
PUBLIC = {"/login", "/logout", "/setup"}


def _dashboard_routes() -> list[Route]:
    return [r for r in dashboard_routes if isinstance(r, Route)]


# Tables a refused write must leave exactly as they were, each read whole in this order.
_WHOLE_TABLES = (
    ("source_rules", "id"),
    ("fixed_codes", "id"),
    ("conversion_batches", "id"),
    ("call_audit", "id"),
    ("call_tags", "call_id, tag"),
    ("conversion_ledger", "id"),
    ("conversion_actions", "id"),
    ("conversion_feeds", "id"),
    ("conversion_sent", "action_id, call_id"),
    ("billing_plans", "id"),
    ("billing_disputes", "id"),
    ("billing_statements", "id"),
    ("transcript_rules", "id"),
)
# Tables whose rows are counted.
_COUNTED = ("targets", "tracking_numbers", "advertisers", "users", "qualification_rules")


async def _snapshot(db: Any, s: Seeded) -> list[Any]:
    b = {"a": s.adv_b}
    return [
        await db.fetchone(
            "SELECT name, domains, timezone, visit_codes, number_per_visitor FROM sites"
            " WHERE id = :i",
            {"i": s.site_b},
        ),
        await db.fetchone("SELECT status FROM tracking_numbers WHERE id = :i", {"i": s.number_b}),
        await db.fetchone("SELECT revoked_ms FROM api_tokens WHERE id = :i", {"i": s.token_b}),
        await db.fetchone(
            "SELECT role, advertiser_id FROM users WHERE email = :e", {"e": s.member_b}
        ),
        await db.fetchone("SELECT * FROM pools WHERE id = :p", {"p": s.pool_b}),
        await db.fetchval("SELECT COUNT(*) FROM sites WHERE advertiser_id = :a", b),
        await db.fetchval("SELECT COUNT(*) FROM api_tokens WHERE advertiser_id = :a", b),
        await db.fetchall("SELECT * FROM blocked_callers WHERE advertiser_id = :a", b),
        await db.fetchall("SELECT * FROM notification_targets WHERE advertiser_id = :a", b),
        await db.fetchall("SELECT * FROM call_outcomes WHERE advertiser_id = :a ORDER BY id", b),
        await db.fetchval("SELECT recording_retention_days FROM advertisers WHERE id = :a", b),
        *[await db.fetchval(f"SELECT COUNT(*) FROM {table}") for table in _COUNTED],
        *[
            await db.fetchall(f"SELECT * FROM {table} ORDER BY {order}")
            for table, order in _WHOLE_TABLES
        ],
    ]


def _fill(values: dict[str, str], s: Seeded) -> dict[str, str]:
    subs = {
        "{pool_b}": str(s.pool_b),
        "{adv_a}": str(s.adv_a),
        "{adv_b}": str(s.adv_b),
        "{number_b}": str(s.number_b),
        "{site_b}": str(s.site_b),
        "{dispute_b}": str(s.dispute_b),
    }
    return {k: subs.get(v, v) for k, v in values.items()}


# Status a member of A gets on each route when aiming at B (or, without an id, at all).
EXPECT = {
    ("/dashboard/settings/outcomes", "POST"): {303},  # its own advertiser's list
    ("/dashboard/settings/analysis", "GET"): {303},  # to its own advertiser's page
    ("/dashboard/advertisers", "POST"): {403},  # administrators only
    ("/dashboard/pools/{id:int}/advertiser", "POST"): {403},  # administrators only
    ("/dashboard/test-call", "POST"): {403},
    ("/dashboard/settings/users", "GET"): {403},
    ("/dashboard/settings/users", "POST"): {403},
    ("/dashboard/settings/users/{id:int}", "POST"): {403},
    # Call events storage refused hold callers of every advertiser: administrators only.
    ("/dashboard/settings/dead-letters", "GET"): {403},
    # What counts as a qualified call is what an advertiser is billed for: administrators.
    ("/dashboard/settings/sites/{id:int}/qualification", "POST"): {403},
    ("/dashboard/settings/numbers", "POST"): {404},  # B's pool is not found
    ("/dashboard/settings/numbers/bulk", "POST"): {404},
    ("/dashboard/settings/numbers/codes", "POST"): {404},  # B's number is not found
    # A file upload is multipart only; B's pool with a file is a 404 too
    # (tests/dashboard/test_bulk_numbers.py).
    ("/dashboard/settings/numbers/import", "POST"): {415},
    ("/dashboard/settings/sites", "POST"): {303},  # created, but under A (checked below)
    ("/dashboard/settings/tokens", "POST"): {200},  # created, but for A (checked below)
    ("/dashboard/locale", "POST"): {303},
    ("/dashboard/{rest:path}", "GET"): {404},
    ("/dashboard/settings/blocked", "POST"): {303},  # added, but for A (checked below)
    ("/dashboard/settings/notifications", "POST"): {303},  # same
    ("/dashboard/account", "POST"): {303},
    ("/dashboard/conversions/batches/new", "POST"): {404},  # B's calls are not found
    ("/dashboard/settings/conversions", "POST"): {422},  # B's site is not one to choose
    # A cost report is a multipart upload; an advertiser of B is a 404 (test_costs_page.py).
    ("/dashboard/costs/import", "POST"): {415},
    # Billing (issue #20): the portal closes and sends months, adds plans, decides
    # disputes and reads the revenue report; a member reads its own statement.
    ("/dashboard/billing/statement/close", "POST"): {403},
    ("/dashboard/billing/statement/send", "POST"): {403},
    ("/dashboard/billing/plans", "POST"): {403},
    ("/dashboard/billing/disputes", "POST"): {403},
    ("/dashboard/billing/revenue", "GET"): {403},
}


async def test_a_member_cannot_reach_another_advertiser_on_any_route(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    before = await _snapshot(db, seeded)
    checked = set()
    for route in _dashboard_routes():
        path = route.path
        if path in PUBLIC:
            continue
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            url = path
            if "{id:int}" in path:
                url = path.replace("{id:int}", str(ID_OF[path](seeded)))
                # A call flow's step type and step name (B's flow has none: still 404).
                url = url.replace("{kind:str}", "ring").replace("{step:str}", "main")
                url = url.replace("{which:str}", f"n-{seeded.number_b}")  # B's number's flow
                url = url.replace("{rule:int}", str(seeded.transcript_rule_b))
            elif "{rest:path}" in path:
                url = "/dashboard/no/such/page"
            if method == "GET":
                response = await client.get(url)
            else:
                data = {"csrf": csrf, **_fill(FORM.get(path, {}), seeded)}
                response = await client.post(url, data=data)
            checked.add((path, method))
            default = {404} if "{id:int}" in path else {200}
            assert response.status_code in EXPECT.get((path, method), default), (
                method,
                url,
                response.status_code,
            )
            body = response.text
            assert KEYWORD_B not in body, url
            assert "Rival" not in body, url
            assert CALLER_B[-4:] not in body, url
    # Every route of the table was walked (a new route without a case here fails this test).
    expected = {
        (r.path, m) for r in _dashboard_routes() if r.path not in PUBLIC for m in r.methods or ()
    } - {(r.path, "HEAD") for r in _dashboard_routes()}
    assert checked == expected
    assert await _snapshot(db, seeded) == before
    made = await db.fetchall(
        "SELECT advertiser_id FROM sites WHERE name = 'x'"
        " UNION ALL SELECT advertiser_id FROM api_tokens WHERE name = 'x'"
    )
    assert [r["advertiser_id"] for r in made] == [seeded.adv_a, seeded.adv_a]
    for table in ("blocked_callers", "notification_targets"):
        owners = await db.fetchall(f"SELECT DISTINCT advertiser_id FROM {table}")
        assert {r["advertiser_id"] for r in owners} == {seeded.adv_a, seeded.adv_b}


async def test_a_member_sees_its_own_qualification_rules_and_cannot_change_them(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    site = f"/dashboard/settings/sites/{seeded.site_a}"
    page = await client.get(site + "/rules")
    assert page.status_code == 200
    assert "set by an administrator" in page.text
    assert "/qualification" not in page.text  # no form to post
    refused = await client.post(site + "/qualification", data={"csrf": csrf, "min_talk_s": "999"})
    assert refused.status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM qualification_rules") == 0


async def test_filters_naming_another_advertiser_are_refused(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    for path in OPEN_TO_MEMBERS - {"/dashboard/account", "/dashboard/live/stream"}:
        assert (await client.get(path)).status_code == 200, path
    for url in (
        f"/dashboard?site={seeded.site_b}",
        f"/dashboard?advertiser={seeded.adv_b}",
        f"/dashboard/calls?site={seeded.site_b}",
        f"/dashboard/advertisers?advertiser={seeded.adv_b}",
    ):
        assert (await client.get(url)).status_code == 404, url
    stream = await client.get("/dashboard/live/stream?after=0")
    assert stream.status_code == 200
    assert "event: call" in stream.text  # A's own calls
    assert KEYWORD_B not in stream.text and f'/dashboard/calls/{seeded.calls_b[0]}"' not in (
        stream.text
    )


async def test_an_administrator_sees_every_advertiser(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.admin, PASSWORD)
    assert KEYWORD_B in (await client.get("/dashboard?by=keyword")).text
    call = await client.get(f"/dashboard/calls/{seeded.calls_b[0]}")
    assert call.status_code == 200
    assert "090-9999-8888" in call.text  # admins see callers in full
    billing = await client.get("/dashboard/advertisers")
    assert "Rival Clinic" in billing.text and "Demo Dental Clinic" in billing.text


async def test_forms_without_a_valid_csrf_token_are_refused(
    client: httpx.AsyncClient, app: Any, db: Any, seeded: Seeded
) -> None:
    await login(client, seeded.admin, PASSWORD)
    before = await db.fetchval("SELECT COUNT(*) FROM advertisers")
    for data in ({"name": "No token"}, {"name": "Wrong token", "csrf": "forged"}):
        response = await client.post("/dashboard/advertisers", data=data)
        assert response.status_code == 403
    no_token = await client.post(f"/dashboard/settings/tokens/{seeded.token_b}/revoke", data={})
    assert no_token.status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM advertisers") == before
    assert (
        await db.fetchval("SELECT revoked_ms FROM api_tokens WHERE id = :i", {"i": seeded.token_b})
        is None
    )
    # A form posted as JSON or multipart is not read at all.
    as_json = await client.post("/dashboard/advertisers", json={"name": "x"})
    assert as_json.status_code == 415
    # The login form has its own token, bound to the browser's login cookie.
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with anonymous:
        refused = await anonymous.post("/login", data={"email": seeded.admin, "password": PASSWORD})
        assert refused.status_code == 403
        assert "cp_session" not in refused.cookies


async def test_login_logout_and_wrong_passwords(
    client: httpx.AsyncClient, db: Any, seeded: Seeded
) -> None:
    page = await client.get("/dashboard/calls")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    wrong = await client.post(
        "/login", data={"csrf": token.group(1), "email": seeded.admin, "password": "nope"}
    )
    assert wrong.status_code == 401
    assert "wrong" in wrong.text
    evil = await client.post(
        "/login",
        data={
            "csrf": token.group(1),
            "email": seeded.admin,
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert evil.status_code == 303 and evil.headers["location"] == "/dashboard"
    stored = await db.fetchval(
        "SELECT password_hash FROM users WHERE email = :e", {"e": seeded.admin}
    )
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    csrf = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/dashboard")).text)
    assert csrf
    cookie = client.cookies.get("cp_session")
    out = await client.post("/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303
    # The old cookie no longer works: logout ended the session on the server.
    client.cookies.set("cp_session", cookie or "")
    again = await client.get("/dashboard")
    assert again.status_code == 303


async def test_root_sends_visitors_to_sign_in_and_users_to_the_dashboard(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    assert (await client.get("/")).headers["location"] == "/login"
    await login(client, seeded.member_a, PASSWORD)
    assert (await client.get("/")).headers["location"] == "/dashboard"
    # No example pages on an install without demo calls or an examples folder.
    assert (await client.get("/examples/", follow_redirects=False)).status_code == 404
