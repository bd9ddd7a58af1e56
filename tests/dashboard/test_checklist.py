"""The getting-started checklist, "tag seen", and the dashboard's test call (in process)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from attribution.tag_seen import MAX_HOSTS, TagSeen, page_origin
from backend import setup_codes
from pool.store import Store, now_ms
from tests.dashboard.conftest import CSRF


async def _admin(client: httpx.AsyncClient, db: Store) -> str:
    """Set up a fresh install in the browser's way; the session's CSRF token."""
    code = await setup_codes.issue(db, now_ms())
    assert code
    form = await client.get("/setup")
    token = CSRF.search(form.text)
    assert token
    done = await client.post(
        "/setup",
        data={
            "csrf": token.group(1),
            "code": code,
            "email": "owner@example.jp",
            "password": "a good password",
        },
    )
    assert done.status_code == 303
    page = await client.get("/dashboard/account")
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def _steps(html: str) -> dict[str, bool]:
    return {
        key: f'class="done" id="step-{key}"' in html
        for key in ("advertiser", "site", "targets", "numbers", "tag", "call")
    }


async def _visit(client: httpx.AsyncClient, key: str, url: str) -> dict[str, Any]:
    answer = await client.post(
        "/v1/session",
        content=orjson.dumps({"site": key, "url": url}),
        headers={"Content-Type": "text/plain", "Origin": page_origin(url) or ""},
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def test_the_checklist_walks_a_new_install_to_its_first_call(
    client: httpx.AsyncClient, db: Store
) -> None:
    csrf = await _admin(client, db)
    page = (await client.get("/dashboard")).text
    assert 'id="getting-started"' in page
    assert not any(_steps(page).values())
    sites = (await client.get("/dashboard/settings/sites")).text
    assert 'id="need-advertiser"' in sites  # says to create an advertiser first

    await client.post("/dashboard/advertisers", data={"csrf": csrf, "name": "Clinic"})
    adv = await db.fetchval("SELECT id FROM advertisers")
    made = await client.post(
        "/dashboard/settings/sites",
        data={"csrf": csrf, "advertiser": str(adv), "name": "Clinic", "domains": "clinic.example"},
    )
    site_url = made.headers["location"]
    await client.post(site_url + "/targets", data={"csrf": csrf, "number": "03-1111-2222"})
    pool = await db.fetchval("SELECT id FROM pools")
    bulk = await client.post(
        "/dashboard/settings/numbers/bulk",
        data={"csrf": csrf, "pool": str(pool), "numbers": "050-1111-0001\n050-1111-0002"},
    )
    assert bulk.status_code == 303
    steps = _steps((await client.get("/dashboard")).text)
    assert steps == {
        "advertiser": True,
        "site": True,
        "targets": True,
        "numbers": True,
        "tag": False,
        "call": False,
    }
    assert "Not seen yet" in (await client.get(site_url)).text

    key = await db.fetchval("SELECT site_key FROM sites")
    swapped = await _visit(client, key, "https://clinic.example/price?gclid=abc")
    assert swapped["swaps"], swapped
    page = (await client.get("/dashboard")).text
    assert _steps(page)["tag"]
    assert "tag seen on https://clinic.example at" in page
    assert "https://clinic.example" in (await client.get(site_url)).text

    # The test call rings the number the visit was just shown, through the real path.
    shown = swapped["swaps"][0]["number"]
    number_id = await db.fetchval("SELECT id FROM tracking_numbers WHERE number = :n", {"n": shown})

    first_option = page.split('id="test-call-form"')[1].split('<option value="')[1].split('"')[0]
    assert int(first_option) == number_id  # the most recently leased number comes first
    rang = await client.post("/dashboard/test-call", data={"csrf": csrf, "number": str(number_id)})
    assert rang.status_code == 303
    deadline = time.monotonic() + 20
    call = None
    while call is None and time.monotonic() < deadline:
        call = await db.fetchone("SELECT tracking_number, session_id FROM calls")
        await asyncio.sleep(0.05)
    assert call is not None
    assert call["tracking_number"] == shown and call["session_id"] is not None
    page = (await client.get("/dashboard")).text
    assert 'id="getting-started"' not in page  # every step done: the checklist is gone


async def test_a_member_cannot_place_a_test_call(
    client: httpx.AsyncClient, db: Store, demo: dict[str, Any], app: Starlette
) -> None:
    from tests.dashboard.conftest import login
    from tests.dashboard.seed import PASSWORD, seed

    seeded = await seed(db)
    csrf = await login(client, seeded.member_a, PASSWORD)
    refused = await client.post(
        "/dashboard/test-call", data={"csrf": csrf, "number": str(seeded.number_a)}
    )
    assert refused.status_code == 403
    await asyncio.sleep(0)
    assert await db.fetchval("SELECT COUNT(*) FROM calls WHERE provider = 'demo'") == 0


async def test_tag_seen_is_written_once_a_minute_per_site_and_origin(db: Store) -> None:
    from backend import accounts

    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, "A", 1)
        site = await accounts.create_site(
            tx, advertiser_id=adv, site_key="k1", name="A", domains=[], now_ms=1
        )
    seen = TagSeen()
    await seen.record(db, site, "https://www.a.example/x?gclid=1", 1000)
    await seen.record(db, site, "https://www.a.example/y", 2000)  # within the minute: skipped
    rows = await db.fetchall("SELECT origin, last_seen_ms FROM site_tag_hosts")
    assert rows == [{"origin": "https://www.a.example", "last_seen_ms": 1000}]
    for n in range(MAX_HOSTS + 5):
        await seen.record(db, site, f"https://h{n}.a.example/", 3000)
    assert await db.fetchval("SELECT COUNT(*) FROM site_tag_hosts") == MAX_HOSTS
    # A known origin is still updated when the site is at its cap.
    later = TagSeen()
    await later.record(db, site, "https://www.a.example/z", 9000)
    assert (
        await db.fetchval(
            "SELECT last_seen_ms FROM site_tag_hosts WHERE origin = 'https://www.a.example'"
        )
        == 9000
    )
    assert page_origin("javascript:alert(1)") is None
    assert page_origin("HTTP://Shop.Example:8080/a") == "http://shop.example:8080"


async def test_a_page_outside_the_sites_domains_is_not_tag_seen(
    client: httpx.AsyncClient, db: Store
) -> None:
    from backend import accounts

    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, "A", 1)
        await accounts.create_site(
            tx, advertiser_id=adv, site_key="k2", name="A", domains=["shop.example"], now_ms=1
        )
    await _visit(client, "k2", "https://copycat.example/")  # dropped: origin not allowed
    assert await db.fetchval("SELECT COUNT(*) FROM site_tag_hosts") == 0
    await _visit(client, "k2", "https://shop.example/")
    assert await db.fetchval("SELECT origin FROM site_tag_hosts") == "https://shop.example"
