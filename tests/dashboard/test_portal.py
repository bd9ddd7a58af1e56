"""One site key for several advertisers (issue #16) and the calls without a web session
(issue #17), on both stores.

The portal's site (advertiser "Portal Media") shows a business number of A and one of B
(tests/dashboard/seed.py, :func:`seed_portal`). Each advertiser reads exactly the calls to
its own targets, and the sessions that were shown its numbers; the portal reads every call
of its site. Every report adds up to the call log and the export, calls without a session
included, in a row of their own whose drill-down lists exactly them.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest

from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import (
    PASSWORD,
    PORTAL_KEYWORD_A,
    PORTAL_KEYWORD_B,
    Portal,
    Seeded,
    add_call,
    add_token,
    seed_portal,
)

MEMBER_P = "member-p@example.com"


@pytest.fixture
async def portal(db: Store, seeded: Seeded) -> Portal:
    return await seed_portal(db, seeded)


async def _bearer(db: Store, email: str, advertiser_id: int | None) -> dict[str, str]:
    token = await add_token(db, email, advertiser_id=advertiser_id, can_see_callers=True)
    return {"Authorization": f"Bearer {token}"}


async def _ids(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> set[int]:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return {int(r["id"]) for r in response.json()["data"]}


async def test_each_advertiser_reads_only_the_calls_to_its_own_targets(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, portal: Portal
) -> None:
    on_portal = f"site_id={portal.site}"
    a = await _bearer(db, seeded.member_a, seeded.adv_a)
    b = await _bearer(db, seeded.member_b, seeded.adv_b)
    admin = await _bearer(db, seeded.admin, None)
    mine_a = {portal.call_a, portal.call_a_no_session}
    assert await _ids(client, f"/api/calls?{on_portal}", a) == mine_a
    assert await _ids(client, f"/api/calls?{on_portal}", b) == {portal.call_b}
    assert await _ids(client, f"/api/calls?{on_portal}", admin) == {*mine_a, portal.call_b}
    # All of A's calls: its own site's and the shared site's, never B's.
    everything_a = await _ids(client, "/api/calls", a)
    assert everything_a == {*seeded.calls_a, *mine_a}
    assert (await client.get(f"/api/calls/{portal.call_b}", headers=a)).status_code == 404
    assert (await client.get(f"/api/calls/{portal.call_a}", headers=a)).status_code == 200
    # Sessions: those shown A's number (and the click path of A's callers), not B's or the
    # portal's own visitors'.
    assert await _ids(client, f"/api/sessions?{on_portal}", a) == {portal.session_a}
    for session, status in (
        (portal.session_a, 200),
        (portal.session_b, 404),
        (portal.session_p, 404),
    ):
        got = await client.get(f"/api/sessions/{session}", headers=a)
        assert got.status_code == status, (session, got.text)
    sessions_all = {portal.session_a, portal.session_b, portal.session_p}
    assert await _ids(client, f"/api/sessions?{on_portal}", admin) == sessions_all
    # The report by keyword on the shared site.
    report = await client.get(f"/api/reports/calls?dimension=keyword&{on_portal}", headers=a)
    rows = {(r["key"], bool(r.get("no_session"))): r for r in report.json()["data"]}
    assert set(rows) == {(PORTAL_KEYWORD_A, False), ("", True)}
    assert rows[(PORTAL_KEYWORD_A, False)]["sessions"] == 1
    assert rows[(PORTAL_KEYWORD_A, False)]["calls"] == 1
    assert rows[(PORTAL_KEYWORD_A, False)]["conversion_rate"] == 1.0
    assert rows[("", True)]["calls"] == 1 and rows[("", True)]["sessions"] == 0
    # The dashboard: A's member opens A's call, not B's, and the log has no B call.
    await login(client, seeded.member_a, PASSWORD)
    assert (await client.get(f"/dashboard/calls/{portal.call_b}")).status_code == 404
    assert (await client.get(f"/dashboard/calls/{portal.call_a}")).status_code == 200
    log = (await client.get("/dashboard/calls")).text
    shown = {int(i) for i in re.findall(r'<tr data-id="(\d+)"', log)}
    assert portal.call_a in shown and portal.call_b not in shown
    assert PORTAL_KEYWORD_B not in (await client.get("/dashboard/reports?by=keyword")).text


async def test_the_portal_that_owns_the_site_reads_every_call_made_on_it(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, portal: Portal
) -> None:
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO users (email, password_hash, role, advertiser_id, created_ms)"
            " SELECT :e, password_hash, 'member', :a, created_ms FROM users WHERE email = :m",
            {"e": MEMBER_P, "a": portal.adv, "m": seeded.member_a},
        )
    p = await _bearer(db, MEMBER_P, portal.adv)
    every = {portal.call_a, portal.call_b, portal.call_a_no_session}
    assert await _ids(client, "/api/calls", p) == every
    sessions = {portal.session_a, portal.session_b, portal.session_p}
    assert await _ids(client, "/api/sessions", p) == sessions
    await login(client, MEMBER_P, PASSWORD)
    assert (await client.get(f"/dashboard/calls/{portal.call_b}")).status_code == 200


def _report_total(page: str) -> int:
    found = re.search(r'id="total-calls">([0-9,]+)<', page)
    assert found, page
    return int(found.group(1).replace(",", ""))


def _row_ids(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'<tr data-id="(\d+)"', page)}


@pytest.mark.parametrize("who", ["admin", "member_a"])
async def test_report_totals_equal_the_call_log_and_the_export(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, portal: Portal, who: str
) -> None:
    # Calls without a session: one to no known number (no site, no advertiser) and one of A
    # imported from a CDR (an advertiser, no site), besides the portal's one of A.
    t = now_ms() - 600_000
    async with db.write() as tx:
        await add_call(
            tx,
            advertiser_id=None,
            site_id=None,
            number_id=None,
            tracking_number="+815000000000",
            caller="+819011110000",
            started_ms=t,
        )
        cdr = await add_call(
            tx,
            advertiser_id=seeded.adv_a,
            site_id=None,
            number_id=None,
            tracking_number="+815011112222",
            caller="+819011110001",
            started_ms=t,
            provider="cdr",
        )
    email = seeded.admin if who == "admin" else seeded.member_a
    headers = await _bearer(db, email, None if who == "admin" else seeded.adv_a)
    calls = await _ids(client, "/api/calls?limit=500", headers)
    sessionless = {
        int(r["id"])
        for r in await db.fetchall("SELECT id FROM calls WHERE session_id IS NULL")
        if int(r["id"]) in calls
    }
    assert cdr in calls and portal.call_a_no_session in sessionless
    assert len(sessionless) >= (3 if who == "admin" else 2)
    exported = await client.get("/api/exports/paths?format=ndjson", headers=headers)
    export_ids = {orjson.loads(line)["call_id"] for line in exported.text.splitlines() if line}
    assert export_ids == calls
    for dimension in ("channel", "source", "campaign", "keyword", "landing_page", "device"):
        report = await client.get(f"/api/reports/calls?dimension={dimension}", headers=headers)
        rows = report.json()["data"]
        assert sum(r["calls"] for r in rows) == len(calls), dimension
        (alone,) = [r for r in rows if r.get("no_session")]
        assert alone["calls"] == len(sessionless) and alone["key"] == "", dimension

    # The dashboard: the tiles, the table's row and its drill-down, the log, the download.
    await login(client, email, PASSWORD)
    log = _row_ids((await client.get("/dashboard/calls")).text)
    assert log == calls
    for dimension in ("source", "keyword", "device"):
        page = (await client.get(f"/dashboard/reports?by={dimension}")).text
        assert _report_total(page) == len(calls)
        row = re.search(r'<tr id="no-session-row"[^>]*>(.*?)</tr>', page, re.S)
        assert row, page
        assert "No web session" in row.group(1)
        # Sessions, calls, qualified calls, first-time callers: no sessions, its calls.
        counts = re.findall(r'<td class="num[^"]*">\s*([0-9,]+)\s*</td>', row.group(1))
        assert counts[:2] == ["0", str(len(sessionless))], counts
        link = re.search(r'href="(/dashboard/calls\?[^"]+)"', row.group(1))
        assert link
        drilled = await client.get(link.group(1).replace("&amp;", "&"))
        assert "No web session" in drilled.text
        assert _row_ids(drilled.text) == sessionless
    download = await client.get("/dashboard/calls/export?format=ndjson&by=session&value=none")
    lines = [orjson.loads(line) for line in download.text.splitlines() if line]
    assert {r["call_id"] for r in lines} == sessionless
    ja = await client.get("/dashboard/reports?by=source", headers={"Accept-Language": "ja"})
    assert "Web訪問なし" in ja.text
    assert (await client.get("/dashboard/calls?by=session&value=some")).status_code == 400


async def test_a_targets_advertiser_is_set_by_the_sites_owner_or_an_administrator(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, portal: Portal
) -> None:
    admin = await _bearer(db, seeded.admin, None)
    a = await _bearer(db, seeded.member_a, seeded.adv_a)

    async def numbers_of(pool_id: int) -> set[Any]:
        rows = await db.fetchall(
            "SELECT advertiser_id FROM tracking_numbers WHERE pool_id = :p", {"p": pool_id}
        )
        return {r["advertiser_id"] for r in rows}

    # A's pool on the portal goes to B, with its numbers; then back to the site's owner.
    moved = await client.patch(
        f"/api/pools/{portal.pool_a}", json={"advertiser_id": seeded.adv_b}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["pool"]["advertiser_id"] == seeded.adv_b
    assert await numbers_of(portal.pool_a) == {seeded.adv_b}
    back = await client.patch(
        f"/api/pools/{portal.pool_a}", json={"advertiser_id": None}, headers=admin
    )
    assert back.json()["pool"]["advertiser_id"] == portal.adv
    assert await numbers_of(portal.pool_a) == {portal.adv}
    stored = await db.fetchval(
        "SELECT t.advertiser_id FROM targets t JOIN pools p ON p.target_id = t.id WHERE p.id = :p",
        {"p": portal.pool_a},
    )
    assert stored is None  # NULL: the site's advertiser
    # A member cannot reach the portal's pool, nor give a target to another advertiser.
    refused = await client.patch(
        f"/api/pools/{portal.pool_a}", json={"advertiser_id": seeded.adv_a}, headers=a
    )
    assert refused.status_code == 404
    demo_pool = await db.fetchval(
        "SELECT p.id FROM pools p WHERE p.site_id = :s ORDER BY p.id LIMIT 1",
        {"s": seeded.site_a},
    )
    other = await client.patch(
        f"/api/pools/{demo_pool}", json={"advertiser_id": seeded.adv_b}, headers=a
    )
    assert other.status_code == 404
    for body, status in (
        ({"advertiser_id": 99_999_999}, 404),
        ({"advertiser_id": "x"}, 422),
        ({"advertiser_id": True}, 422),
        ({}, 422),
    ):
        got = await client.patch(f"/api/pools/{portal.pool_a}", json=body, headers=admin)
        assert got.status_code == status, (body, got.text)
    # One number per visitor would stand in for both advertisers' targets: refused.
    per_visitor = await client.put(
        "/api/pools/policy", json={"site": "portal", "number_per_visitor": True}, headers=admin
    )
    assert per_visitor.status_code == 422, per_visitor.text
    # A new target of B on the portal's site, and a number added to its pool: B's.
    made = await client.post(
        "/api/pools",
        json={"site": "portal", "target": "+81344440003", "advertiser_id": seeded.adv_b},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["pool"]["advertiser_id"] == seeded.adv_b
    added = await client.post(
        "/api/numbers",
        json={"number": "+815077770003", "site": "portal", "target": "+81344440003"},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    assert await numbers_of(made.json()["pool"]["id"]) == {seeded.adv_b}


async def test_the_site_page_sets_a_targets_advertiser(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, portal: Portal
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    page = await client.get(f"/dashboard/settings/sites/{portal.site}")
    assert page.status_code == 200
    assert 'name="target_advertiser"' in page.text
    added = await client.post(
        f"/dashboard/settings/sites/{portal.site}/targets",
        data={"csrf": csrf, "number": "03-4444-0004", "target_advertiser": str(seeded.adv_a)},
    )
    assert added.status_code == 303, added.text
    owner = await db.fetchval(
        "SELECT advertiser_id FROM targets WHERE number = '+81344440004'",
    )
    assert owner == seeded.adv_a
    moved = await client.post(
        f"/dashboard/pools/{portal.pool_b}/advertiser",
        data={"csrf": csrf, "target_advertiser": str(seeded.adv_a)},
    )
    assert moved.status_code == 303, moved.text
    numbers = await db.fetchall(
        "SELECT advertiser_id FROM tracking_numbers WHERE pool_id = :p", {"p": portal.pool_b}
    )
    assert {r["advertiser_id"] for r in numbers} == {seeded.adv_a}
    # One number per visitor would stand in for both advertisers' numbers: refused, said.
    mode = await client.post(
        f"/dashboard/settings/sites/{portal.site}/numbers-mode",
        data={"csrf": csrf, "number_per_visitor": "1"},
    )
    assert mode.status_code == 422, mode.text
    assert "One number per visitor needs every business number" in mode.text
    assert (
        await db.fetchval("SELECT number_per_visitor FROM sites WHERE id = :s", {"s": portal.site})
        == 0
    )
    # Members do not: the form is for administrators.
    await client.post("/logout", data={"csrf": csrf})
    member_csrf = await login(client, seeded.member_a, PASSWORD)
    refused = await client.post(
        f"/dashboard/pools/{portal.pool_b}/advertiser",
        data={"csrf": member_csrf, "target_advertiser": str(seeded.adv_a)},
    )
    assert refused.status_code in (403, 404)
