"""One site key for several advertisers (issue #16), in real Chromium against a real server.

A portal's page carries one snippet (one site key, the portal's site) and the business
numbers of two advertisers: 03-1234-5678 is advertiser A's, 0120-123-456 advertiser B's.
Both are swapped; a call to each swapped number (through the Twilio stand-in) is credited
to its own advertiser; A's member sees only A's call in the reports, the call log and the
export, and the portal's member sees both.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from backend.storage import open_database, seed
from pool.numbers import formats
from tests.snippet.conftest import SnippetServer, Watched, prepare_server
from tests.snippet.helpers import FREE, JP, SITE_KEY, TWILIO_AUTH_TOKEN
from tests.support.browser import BROWSER_HEADERS
from tests.support.twilio import TwilioStandIn

pytestmark = pytest.mark.e2e

PASSWORD = "portal-pass-1234"
MEMBER_A, MEMBER_B, MEMBER_P = "a@adv-a.example", "b@adv-b.example", "p@portal.example"
NUMBERS_A = [f"+815017{n:06d}" for n in range(1, 4)]
NUMBERS_B = [f"+81120100{n:03d}" for n in range(1, 4)]
SWAPPED = (
    "document.getElementById('main').textContent !== '03-1234-5678'"
    " && document.getElementById('free').textContent !== '0120-123-456'"
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _seed(url: str) -> None:
    domains = ["127.0.0.1", "localhost"]
    db = await open_database(url)
    try:
        await seed.seed_world(
            db,
            [
                seed.TenantSpec("Adv A", users=[seed.UserSpec(MEMBER_A, PASSWORD)]),
                seed.TenantSpec("Adv B", users=[seed.UserSpec(MEMBER_B, PASSWORD)]),
                seed.TenantSpec(
                    "Portal Media",
                    [
                        seed.SiteSpec(
                            SITE_KEY,
                            name="Portal",
                            domains=domains,
                            pools=[
                                seed.PoolSpec(JP, NUMBERS_A, label="A", advertiser="Adv A"),
                                seed.PoolSpec(FREE, NUMBERS_B, label="B", advertiser="Adv B"),
                            ],
                        )
                    ],
                    users=[seed.UserSpec(MEMBER_P, PASSWORD)],
                ),
            ],
        )
    finally:
        await db.close()


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnippetServer]:
    snippet = prepare_server(tmp_path_factory.mktemp("portal"), _seed)
    snippet.server.start()
    try:
        yield snippet
    finally:
        snippet.server.stop()


def _e164(shown: str, pool: list[str]) -> str:
    (number,) = [n for n in pool if formats(n).national == shown.strip()]
    return number


async def _call(base: str, to: str, sid: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        await TwilioStandIn(client, TWILIO_AUTH_TOKEN, base).call(
            to=to, caller="+819012340000", sid=sid
        )


async def _seen_by(base: str, email: str) -> dict[str, Any]:
    """What a member's dashboard shows: report total, call log rows, export rows."""
    async with httpx.AsyncClient(base_url=base, headers=BROWSER_HEADERS, timeout=20) as client:
        form = await client.get("/login")
        token = CSRF.search(form.text)
        assert token, form.text
        done = await client.post(
            "/login",
            data={"csrf": token.group(1), "email": email, "password": PASSWORD},
        )
        assert done.status_code == 303, done.text
        report = (await client.get("/dashboard/reports?by=keyword")).text
        total = re.search(r'id="total-calls">([0-9,]+)<', report)
        assert total, report
        log = (await client.get("/dashboard/calls")).text
        export = await client.get("/dashboard/calls/export?format=ndjson")
        assert export.status_code == 200, export.text
        rows = [orjson.loads(line) for line in export.text.splitlines() if line]
        return {
            "report_total": int(total.group(1).replace(",", "")),
            "log_ids": sorted(int(i) for i in re.findall(r'<tr data-id="(\d+)"', log)),
            "export": sorted((r["call_id"], r["tracking_number"]) for r in rows),
        }


def test_one_site_key_swaps_both_advertisers_numbers_and_credits_each_call(
    portal_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.goto(portal_server.page_url("plain.html"))
    w.page.wait_for_function(SWAPPED)
    shown_a = _e164(str(w.page.text_content("#main")), NUMBERS_A)
    shown_b = _e164(str(w.page.text_content("#free")), NUMBERS_B)
    assert not w.script_errors()
    ((session,),) = portal_server.sql("SELECT DISTINCT session_id FROM leases")

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _call(portal_server.url, shown_a, "CA" + "a1" * 16)).result()
        pool.submit(asyncio.run, _call(portal_server.url, shown_b, "CA" + "b2" * 16)).result()
    deadline = time.monotonic() + 20
    rows: list[tuple[Any, ...]] = []
    while len(rows) < 2 and time.monotonic() < deadline:
        rows = portal_server.sql(
            "SELECT c.id, c.tracking_number, a.name, c.session_id, st.site_key FROM calls c"
            " JOIN advertisers a ON a.id = c.advertiser_id JOIN sites st ON st.id = c.site_id"
            " WHERE c.match_method <> 'none' ORDER BY c.id"
        )
        time.sleep(0.2)
    # Each call is its number's advertiser's, on the one shared site, matched to the visit.
    (call_a, _, owner_a, session_a, key_a), (call_b, _, owner_b, session_b, key_b) = rows
    assert [r[1] for r in rows] == [shown_a, shown_b]
    assert (owner_a, owner_b) == ("Adv A", "Adv B")
    assert session_a == session_b == session and key_a == key_b == SITE_KEY

    def seen(email: str) -> dict[str, Any]:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _seen_by(portal_server.url, email)).result()

    assert seen(MEMBER_A) == {
        "report_total": 1,
        "log_ids": [call_a],
        "export": [(call_a, shown_a)],
    }
    assert seen(MEMBER_B)["log_ids"] == [call_b]
    # The portal owns the site: it sees every call made on it.
    assert seen(MEMBER_P) == {
        "report_total": 2,
        "log_ids": [call_a, call_b],
        "export": [(call_a, shown_a), (call_b, shown_b)],
    }
