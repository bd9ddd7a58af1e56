"""Heartbeats keep overflow leases alive like any other (issue #21, found on the way).

Before: a visitor on the overflow number got 410 on every heartbeat, the snippet then asked
``/v1/session`` and every such request added a page view; a visitor holding a pool number
for one target and the overflow number for another got 200, but the overflow lease was
never extended and ended while the page still showed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from attribution.matching import match_call
from backend.storage import seed
from pool.store import Store, now_ms

ORIGIN = {"origin": "http://127.0.0.1"}
PAGE = "http://127.0.0.1/shop"


@dataclass
class Site:
    key: str
    overflow: str  # the first target's overflow number
    ttl_ms: int


async def _site(db: Store, key: str, targets: int) -> Site:
    """A site with ``targets`` targets; the first has one pool number and an overflow number,
    the others two pool numbers each."""
    pools = []
    for i in range(targets):
        first = f"+81501{len(key):02d}{i:02d}"
        pools.append(
            seed.PoolSpec(
                f"+8131234{i:04d}",
                [first + "0000", first + "0001"] if i else [first + "0000"],
                label="",
                name=f"p{i}",
                overflow=None if i else first + "0001",
            )
        )
    spec = seed.SiteSpec(key, domains=["127.0.0.1"], pools=pools)
    site = await seed.seed_site(db, "Shop " + key, spec)
    overflow = site.pool.overflow
    assert overflow is not None
    return Site(key, overflow, seed.TTL_MS)


async def _visit(client: httpx.AsyncClient, site: Site, path: str) -> tuple[str, list[str]]:
    r = await client.post(
        "/v1/session", json={"site": site.key, "url": "http://127.0.0.1" + path}, headers=ORIGIN
    )
    assert r.status_code == 200, r.text
    return r.json()["token"], [s["number"] for s in r.json()["swaps"]]


async def _path(db: Store, token_session: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT url FROM page_views WHERE session_id = :s ORDER BY ts_ms, id",
        {"s": token_session},
    )
    return [r["url"].removeprefix("http://127.0.0.1") for r in rows]


async def test_a_visitor_on_the_overflow_number_keeps_it_and_its_click_path_stays_true(
    client: httpx.AsyncClient, db: Store
) -> None:
    site = await _site(db, "one", targets=1)
    await _visit(client, site, "/home")  # takes the only pool number
    token, shown = await _visit(client, site, "/price")
    assert shown == [site.overflow]
    session = await db.fetchval(
        "SELECT session_id FROM leases WHERE overflow = 1 AND ended_ms IS NULL"
    )
    # The next page of the visit, then the page's regular heartbeats, answered as the
    # snippet does: a 410 makes it ask /v1/session for the page it is on.
    page = {"token": token, "url": "http://127.0.0.1/access", "title": "Access"}
    answers = []
    for i in range(4):
        beat = await client.post(
            "/v1/heartbeat", json=page if i == 0 else {"token": token}, headers=ORIGIN
        )
        answers.append(beat.status_code)
        if beat.status_code == 410:
            again = {"site": site.key, "url": page["url"], "token": token}
            assert (await client.post("/v1/session", json=again, headers=ORIGIN)).is_success
    assert await _path(db, session) == ["/price", "/access"]
    assert answers == [200, 200, 200, 200]
    expires = await db.fetchval(
        "SELECT expires_ms FROM leases WHERE session_id = :s AND ended_ms IS NULL",
        {"s": session},
    )
    assert expires > now_ms() + site.ttl_ms // 2


async def test_an_overflow_lease_beside_a_pool_lease_is_extended_too(
    client: httpx.AsyncClient, db: Store
) -> None:
    site = await _site(db, "two", targets=2)
    await _visit(client, site, "/home")
    token, shown = await _visit(client, site, "/price")
    assert site.overflow in shown and len(shown) == 2
    session = await db.fetchval(
        "SELECT session_id FROM leases WHERE overflow = 1 AND ended_ms IS NULL"
    )
    # The page has been open nearly a ttl: both leases are seconds from their expiry.
    shift = site.ttl_ms - 2_000
    await db.execute(
        "UPDATE leases SET started_ms = started_ms - :d, last_seen_ms = last_seen_ms - :d,"
        " expires_ms = expires_ms - :d WHERE session_id = :s",
        {"d": shift, "s": session},
    )
    beat = await client.post("/v1/heartbeat", json={"token": token}, headers=ORIGIN)
    assert beat.status_code == 200
    now = now_ms()
    rows = await db.fetchall(
        "SELECT overflow, expires_ms FROM leases WHERE session_id = :s AND ended_ms IS NULL",
        {"s": session},
    )
    assert sorted(r["overflow"] for r in rows) == [0, 1]
    assert all(r["expires_ms"] > now + site.ttl_ms // 2 for r in rows)
    # Half a ttl later (past the old expiry and its grace) a call to the overflow number
    # still finds the visit that shows it.
    m = await match_call(
        db, tracking_number=site.overflow, caller="+819011112222", started_ms=now + 20 * 60_000
    )
    assert (m.method, m.session_id, m.candidates) == ("overflow", session, [session])
