"""The snippet's endpoints against the demo site."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from backend.storage import SQLiteDatabase


async def _session(
    client: httpx.AsyncClient, token: str = "", url: str = "http://127.0.0.1/examples/?gclid=abc"
) -> httpx.Response:
    body = {
        "site": "demo",
        "url": url,
        "referrer": "",
        "token": token,
    }
    return await client.post("/v1/session", json=body)


async def test_a_visit_gets_one_number_per_target(client: httpx.AsyncClient, demo: Any) -> None:
    r = await _session(client)
    assert r.status_code == 200
    data = r.json()
    targets = {t["number"]: t["tracking_numbers"] for t in demo["targets"]}
    assert {s["target"] for s in data["swaps"]} == set(targets)
    for swap in data["swaps"]:
        assert swap["number"] in targets[swap["target"]]
    jp = next(s for s in data["swaps"] if s["target"] == "+81312345678")
    assert jp["national"].startswith("050-") and jp["international"].startswith("+81 50-")
    assert data["ttl"] > 0 and data["heartbeat"] > 0 and data["token"]


async def test_the_same_session_keeps_its_numbers(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    first = (await _session(client)).json()
    second = (await _session(client, first["token"], "http://127.0.0.1/examples/ja.html")).json()
    assert first["swaps"] == second["swaps"]
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM page_views") == 2
    # The same page again (a reload, or the snippet asking about numbers that appeared on
    # it later) is not another page view.
    third = (await _session(client, first["token"], "http://127.0.0.1/examples/ja.html")).json()
    assert third["swaps"] == first["swaps"]
    assert await db.fetchval("SELECT COUNT(*) FROM page_views") == 2


async def test_heartbeat_extends_then_410_after_release(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    token = (await _session(client)).json()["token"]
    r = await client.post("/v1/heartbeat", json={"token": token})
    assert r.status_code == 200 and r.json()["ttl"] > 0
    await db.execute("UPDATE leases SET ended_ms = 1")
    r = await client.post("/v1/heartbeat", json={"token": token})
    assert r.status_code == 410


async def test_forged_token_starts_a_new_session(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    await _session(client, "forged.token")
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 1
    r = await client.post("/v1/heartbeat", json={"token": "forged.token"})
    assert r.status_code == 400


async def test_unknown_site_is_404(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    r = await client.post("/v1/session", json={"site": "nope", "url": "http://x/"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_site"
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 0


async def test_snippet_is_served_with_etag_and_compression(client: httpx.AsyncClient) -> None:
    r = await client.get("/dni.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    etag = r.headers["etag"]
    again = await client.get("/dni.js", headers={"if-none-match": etag})
    assert again.status_code == 304


async def test_a_heartbeat_with_a_page_adds_it_to_the_click_path(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    """Later pages of a visit and single-page route changes come by heartbeat (the snippet
    swaps from storage without a new session request): they belong in the click path."""
    token = (await _session(client)).json()["token"]
    page = {
        "token": token,
        "url": "http://127.0.0.1/examples/contact",
        "title": "Contact",
        "referrer": "http://127.0.0.1/examples/?gclid=abc",
    }
    r = await client.post("/v1/heartbeat", json=page, headers={"origin": "http://127.0.0.1"})
    assert r.status_code == 200 and r.json()["ttl"] > 0
    # A plain heartbeat, a page off the site's domains, or one from another origin: no view.
    assert (await client.post("/v1/heartbeat", json={"token": token})).status_code == 200
    elsewhere = {**page, "url": "https://evil.example/phish"}
    assert (await client.post("/v1/heartbeat", json=elsewhere)).status_code == 200
    framed = await client.post(
        "/v1/heartbeat", json=page, headers={"origin": "https://evil.example"}
    )
    assert framed.status_code == 200
    rows = await db.fetchall("SELECT url, title, referrer FROM page_views ORDER BY id")
    assert [r["url"] for r in rows] == [
        "http://127.0.0.1/examples/?gclid=abc",
        "http://127.0.0.1/examples/contact",
    ]
    assert rows[1]["title"] == "Contact" and rows[1]["referrer"].endswith("?gclid=abc")
    # The session was seen again; its source (the ad click) is unchanged.
    session = await db.fetchone("SELECT started_ms, last_seen_ms, gclid, touches FROM sessions")
    assert session is not None
    assert session["last_seen_ms"] >= session["started_ms"]
    assert session["gclid"] == "abc" and session["touches"] == 1
    # With the lease gone the answer is 410 and nothing is added: the snippet then asks
    # /v1/session, which records the page itself.
    await db.execute("UPDATE leases SET ended_ms = 1")
    gone = await client.post("/v1/heartbeat", json=page)
    assert gone.status_code == 410
    assert await db.fetchval("SELECT COUNT(*) FROM page_views") == 2


async def test_heartbeat_page_fields_are_cut_to_their_limits(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    """The snippet sends the page as it is (it stays small); the backend cuts each field."""
    token = (await _session(client)).json()["token"]
    long_page = {
        "token": token,
        "url": "http://127.0.0.1/" + "a" * 3000,
        "title": "t" * 600,
        "referrer": "http://127.0.0.1/" + "r" * 3000,
    }
    r = await client.post("/v1/heartbeat", json=long_page)
    assert r.status_code == 200
    row = await db.fetchone("SELECT url, title, referrer FROM page_views ORDER BY id DESC")
    assert row is not None
    assert (len(row["url"]), len(row["title"]), len(row["referrer"])) == (2048, 512, 2048)
    wrong_type = await client.post("/v1/heartbeat", json={"token": token, "title": ["x"]})
    assert wrong_type.status_code == 422


# ---- lease on demand: numbers only for the targets the page shows -----------------------------


async def _ask(client: httpx.AsyncClient, found: Any, token: str = "") -> httpx.Response:
    body = {"site": "demo", "url": "http://127.0.0.1/examples/", "found": found, "token": token}
    return await client.post("/v1/session", content=orjson.dumps(body))


async def test_only_the_targets_found_on_the_page_get_numbers(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    # The page shows the Tokyo number (as 03-1234-5678) and a fax nobody tracks.
    first = (await _ask(client, ["0312345678", "0312345679"])).json()
    assert [s["target"] for s in first["swaps"]] == ["+81312345678"]
    assert await db.fetchval("SELECT COUNT(*) FROM leases WHERE ended_ms IS NULL") == 1
    # Later the toll-free number appears (written +81 120-123-456): one more lease; the
    # answer keeps the number the visit already has, so the tab's copy stays whole.
    second = (await _ask(client, ["81120123456"], first["token"])).json()
    assert {s["target"] for s in second["swaps"]} == {"+81312345678", "+81120123456"}
    jp = next(s for s in second["swaps"] if s["target"] == "+81312345678")
    assert jp["number"] == first["swaps"][0]["number"]
    assert await db.fetchval("SELECT COUNT(*) FROM leases WHERE ended_ms IS NULL") == 2
    # A page with no number at all: no lease for a new visitor.
    none = (await _ask(client, [])).json()
    assert none["swaps"] == [] and none["token"]


async def test_a_visit_whose_leases_ended_gets_numbers_for_what_it_was_shown(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    first = (await _ask(client, ["2125550100"])).json()
    await db.execute("UPDATE leases SET ended_ms = expires_ms - 1")
    again = (await _ask(client, [], first["token"])).json()
    assert [s["target"] for s in again["swaps"]] == ["+12125550100"]


async def test_found_must_be_a_list_and_junk_runs_are_ignored(
    client: httpx.AsyncClient, demo: Any
) -> None:
    bad = await _ask(client, "0312345678")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
    junk = await _ask(client, [12, None, "03-1234-5678", "x" * 50, "9" * 41, "0312345678"])
    assert [s["target"] for s in junk.json()["swaps"]] == ["+81312345678"]


async def test_a_swap_carries_what_the_snippet_matches_with(
    client: httpx.AsyncClient, demo: Any
) -> None:
    swaps = (await _ask(client, ["0312345678", "2125550100"])).json()["swaps"]
    jp = next(s for s in swaps if s["target"] == "+81312345678")
    assert jp["n"] == 9 and jp["g"] == re.findall(r"\d+", jp["international"])[1:]
    assert jp["p"].startswith("(") and jp["p"].endswith("(?![-.]?\\d))")
    # The pattern finds the target in its forms and not inside a longer run of digits.
    pattern = re.compile(jp["p"])
    for text in ("03-1234-5678", "+81 3-1234-5678", "０３－１２３４－５６７８", "(03) 1234-5678"):
        folded = text.translate({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)})
        assert pattern.search(folded), text
    assert not pattern.search("0312345678-9")


async def test_session_page_fields_are_cut_and_the_ga_cookie_read(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    body = {
        "site": "demo",
        "url": "http://127.0.0.1/examples/?q=" + "x" * 3000,
        "title": "t" * 600,
        "ga": "GA1.1.123456789.1700000000",
    }
    r = await client.post("/v1/session", json=body)
    assert r.status_code == 200
    row = await db.fetchone("SELECT url, title FROM page_views")
    assert row is not None and (len(row["url"]), len(row["title"])) == (2048, 512)
    assert await db.fetchval("SELECT ga_client_id FROM sessions") == "123456789.1700000000"
    # Junk in the cookie is no client id.
    junk = {**body, "ga": "GA1.1.<script>", "token": ""}
    assert (await client.post("/v1/session", json=junk)).status_code == 200


# ---- one number per visitor ------------------------------------------------------------------


async def test_one_number_per_visitor_stands_in_for_every_target_on_the_page(
    client: httpx.AsyncClient, demo: Any, db: SQLiteDatabase
) -> None:
    from pool import admin

    us = "+12125550100"
    policy = await admin.set_policies(
        db, site_key="demo", advertiser_id=None, number_per_visitor=True, default_target=us
    )
    assert policy["number_per_visitor"] is True and policy["default_target"] == us
    # The page shows the Tokyo and the toll-free number (toll-free last).
    first = (await _ask(client, ["0312345678", "0120123456"])).json()
    assert {s["target"] for s in first["swaps"]} == {"+81312345678", "+81120123456"}
    assert len({s["number"] for s in first["swaps"]}) == 1
    us_pool = {t["number"]: t["tracking_numbers"] for t in demo["targets"]}[us]
    assert first["swaps"][0]["number"] in us_pool  # leased from the default target's pool
    assert await db.fetchval("SELECT COUNT(*) FROM leases WHERE ended_ms IS NULL") == 1
    last = "SELECT t.number FROM sessions s JOIN targets t ON t.id = s.last_target_id"
    assert await db.fetchval(last) == "+81120123456"
    # A later page view shows the Tokyo number only: the heartbeat's `seen` moves it.
    beat = {
        "token": first["token"],
        "url": "http://127.0.0.1/examples/ja.html",
        "seen": ["+81312345678", "junk", 5],
    }
    assert (await client.post("/v1/heartbeat", json=beat)).status_code == 200
    assert await db.fetchval(last) == "+81312345678"
    bad = await client.post("/v1/heartbeat", json={**beat, "seen": "+81312345678"})
    assert bad.status_code == 422
