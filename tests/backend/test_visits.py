"""The snippet's endpoints against the demo site."""

from __future__ import annotations

from typing import Any

import httpx

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


async def test_heartbeat_page_fields_are_bounded(client: httpx.AsyncClient, demo: Any) -> None:
    token = (await _session(client)).json()["token"]
    long_url = {"token": token, "url": "http://127.0.0.1/" + "a" * 3000}
    r = await client.post("/v1/heartbeat", json=long_url)
    assert r.status_code == 422 and r.json()["error"]["code"]
    wrong_type = await client.post("/v1/heartbeat", json={"token": token, "title": ["x"]})
    assert wrong_type.status_code == 422
