"""A real visit in Chromium through the real server, then a call matched to it.

The browser lands on the example page from a Google ad (gclid, keyword from a tracking
template, Google as referrer); the snippet posts the visit; the pipeline classifies it and
leases numbers; a call to the number the page shows is then matched to that very session.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from attribution.matching import match_call
from attribution.sessions import click_path
from backend.storage import open_database
from tests.support.browser import NOT_WEBDRIVER
from tests.support.postgres import run_sync
from tests.support.server import Server

pytestmark = pytest.mark.e2e


async def _session_and_match(url: str, gclid: str, number: str) -> dict[str, Any]:
    db = await open_database(url, migrate=False)
    try:
        row = await db.fetchone(
            "SELECT id, channel, source, keyword, match_type, campaign, device, browser,"
            " ip_hash FROM sessions WHERE gclid = :g",
            {"g": gclid},
        )
        assert row is not None
        started = await db.fetchval(
            "SELECT MAX(started_ms) FROM leases WHERE session_id = :s", {"s": row["id"]}
        )
        m = await match_call(
            db, tracking_number=number, caller="+819011112222", started_ms=started + 1000
        )
        return {"session": row, "match": m, "path": await click_path(db, row["id"])}
    finally:
        await db.close()


def test_an_ad_click_in_chromium_is_classified_and_its_call_matched(
    live_server: Server, page: Any
) -> None:
    gclid = "Cj0KCQ" + secrets.token_hex(6)
    page.context.add_init_script(NOT_WEBDRIVER)
    landing = (
        f"{live_server.url}/examples/?gclid={gclid}&utm_campaign=implant"
        "&utm_term=%E3%82%A4%E3%83%B3%E3%83%97%E3%83%A9%E3%83%B3%E3%83%88&matchtype=p"
    )
    page.goto(landing, referer="https://www.google.co.jp/")
    page.wait_for_function("document.querySelector('#main-tel').textContent !== '03-1234-5678'")
    href = page.get_attribute("#main-tel", "href")
    assert href is not None and href.startswith("tel:+")
    found = run_sync(_session_and_match(live_server.database_url, gclid, href[len("tel:") :]))
    s = found["session"]
    assert (s["channel"], s["source"], s["campaign"]) == ("paid_search", "google", "implant")
    assert (s["keyword"], s["match_type"]) == ("インプラント", "phrase")
    assert s["device"] == "desktop" and s["browser"] == "Chrome" and len(s["ip_hash"]) == 32
    assert [p["url"] for p in found["path"]] == [landing]
    m = found["match"]
    assert (m.method, m.session_id) == ("lease", s["id"])
    assert m.kind == "pool" and m.forward_to == "+81312345678"
