"""The ingest pipeline behind POST /v1/session, in-process against the demo site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from attribution.ingest import (
    IngestConfig,
    Pipeline,
    Visit,
    drop_counts,
    set_site_params,
)
from attribution.origins import origin_allowed
from attribution.sessions import click_path, first_touch
from backend.settings import Settings
from pool import numbers, rules
from pool.store import Store
from tests.attribution.conftest import GEOIP_DIR

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
LONDON = "81.2.69.142"
MILTON = "216.160.83.56"
PAGE = "http://127.0.0.1/examples/"
EN = "en-US,en;q=0.9"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        log_level="warning",
        geoip_city_db=str(GEOIP_DIR / "GeoIP2-City-Test.mmdb"),
        trusted_proxies="127.0.0.1",  # where in-process requests come from
    )


async def visit(
    client: httpx.AsyncClient,
    url: str = PAGE,
    *,
    referrer: str = "",
    token: str = "",
    ua: str = CHROME,
    ip: str = LONDON,
    **extra: Any,
) -> httpx.Response:
    headers = {
        "user-agent": ua,
        "x-forwarded-for": f"198.18.0.1, {ip}",
        "content-type": "text/plain",
    }
    headers.update(extra.pop("headers", {}))
    body = {"site": "demo", "url": url, "referrer": referrer, "token": token, **extra}
    return await client.post("/v1/session", content=orjson.dumps(body), headers=headers)


async def test_a_tracked_visit_is_classified_enriched_and_leased(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    r = await visit(
        client,
        PAGE + "?gclid=G-1&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85&utm_campaign=tokyo&matchtype=e",
        referrer="https://www.google.co.jp/",
        ua=IPHONE,
        title="Demo",
        ga="1234567890.1700000000",
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"token", "swaps", "ttl", "heartbeat"}
    assert len(body["swaps"]) == 3 and body["ttl"] > 0
    row = await db.fetchone("SELECT * FROM sessions")
    assert row is not None
    assert (row["channel"], row["source"], row["medium"]) == ("paid_search", "google", "cpc")
    assert (row["campaign"], row["keyword"], row["match_type"]) == ("tokyo", "歯医者", "exact")
    assert row["gclid"] == "G-1" and row["ga_client_id"] == "1234567890.1700000000"
    assert (row["device"], row["os"], row["browser"]) == ("mobile", "iOS", "Mobile Safari")
    assert (row["country"], row["region"], row["city"]) == ("GB", "ENG", "London")
    assert len(row["ip_hash"]) == 32
    assert orjson.loads(row["first_touch"])["gclid"] == "G-1"
    path = await click_path(db, row["id"])
    assert [p["url"] for p in path] == [PAGE + path[0]["url"][len(PAGE) :]]
    assert path[0]["title"] == "Demo"


async def test_geo_from_another_address_and_none_for_private_ones(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    await visit(client, ip=MILTON)
    await visit(client, ip="192.168.1.20")
    rows = await db.fetchall("SELECT country, region, city FROM sessions ORDER BY id")
    assert rows == [
        {"country": "US", "region": "WA", "city": "Milton"},
        {"country": "", "region": "", "city": ""},
    ]


async def test_returning_visitor_keeps_first_touch_and_gets_a_new_last_touch(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    first = (await visit(client, PAGE + "?yclid=YSS.1&utm_campaign=brand")).json()
    token = first["token"]
    # Moving between the site's own pages adds page views only.
    again = await visit(client, PAGE + "price.html", referrer=PAGE, token=token)
    assert again.json()["token"] == token and again.json()["swaps"] == first["swaps"]
    row = await db.fetchone("SELECT channel, source, touches FROM sessions")
    assert row == {"channel": "paid_search", "source": "yahoo", "touches": 1}
    # Days later the same visitor comes back through an organic Google result.
    await visit(client, PAGE, referrer="https://www.google.com/", token=token)
    row = await db.fetchone("SELECT id, channel, source, yclid, touches FROM sessions")
    assert row is not None
    assert (row["channel"], row["source"], row["yclid"], row["touches"]) == (
        "organic_search",
        "google",
        "",
        2,
    )
    touch = await first_touch(db, row["id"])
    assert (touch["channel"], touch["source"], touch["yclid"]) == ("paid_search", "yahoo", "YSS.1")
    path = await click_path(db, row["id"])
    assert [p["url"] for p in path] == [
        PAGE + "?yclid=YSS.1&utm_campaign=brand",
        PAGE + "price.html",
        PAGE,
    ]
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 1


async def test_the_landing_page_is_stored_without_click_ids_and_follows_a_new_touch(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    first = await visit(client, PAGE + "price.html?gclid=Cj0KCQ-abc&utm_medium=cpc#plans")
    row = await db.fetchone("SELECT landing_url, landing_page FROM sessions")
    assert row == {
        "landing_url": PAGE + "price.html?gclid=Cj0KCQ-abc&utm_medium=cpc#plans",
        "landing_page": PAGE + "price.html",
    }
    # A new touch (another ad click) lands elsewhere: both move with it.
    token = first.json()["token"]
    await visit(client, "http://127.0.0.1?yclid=YSS.2", token=token)
    row = await db.fetchone("SELECT landing_url, landing_page, touches FROM sessions")
    assert row == {
        "landing_url": "http://127.0.0.1?yclid=YSS.2",
        "landing_page": "http://127.0.0.1/",
        "touches": 2,
    }


async def test_bots_are_dropped_and_counted_with_a_normal_answer(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    for ua in (GOOGLEBOT, "", "facebookexternalhit/1.1", "curl/8.5.0"):
        r = await visit(client, ua=ua)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"token", "swaps", "ttl", "heartbeat"}
        assert body["swaps"] == [] and body["ttl"] == 0 and body["token"]
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM leases") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM page_views") == 0
    assert await drop_counts(db) == {"bot": 4}


async def test_disallowed_origin_or_page_is_dropped(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    r = await visit(client, headers={"origin": "https://evil.example"})
    assert r.status_code == 200 and r.json()["swaps"] == []
    r = await visit(client, "https://copycat.example/examples/")
    assert r.status_code == 200 and r.json()["swaps"] == []
    r = await visit(client, "not a url")
    assert r.json()["swaps"] == []
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 0
    assert await drop_counts(db) == {"origin_not_allowed": 3}
    ok = await visit(client, headers={"origin": "http://localhost:8000"})
    assert len(ok.json()["swaps"]) == 3


async def test_a_dropped_request_hands_back_the_visitors_token(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    token = (await visit(client)).json()["token"]
    r = await visit(client, token=token, ua=GOOGLEBOT)
    assert r.json()["token"] == token and r.json()["swaps"] == []
    assert await db.fetchval("SELECT COUNT(*) FROM page_views") == 1


async def test_spam_referrer_and_unknown_site_are_counted(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    r = await visit(client, referrer="http://semalt.com/crawler.php?u=x")
    assert r.status_code == 200 and r.json()["swaps"] == []
    r = await client.post("/v1/session", json={"site": "nope", "url": PAGE})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_site"
    assert await drop_counts(db) == {"spam_referrer": 1, "unknown_site": 1}
    site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
    assert await drop_counts(db, site_id=site_id) == {"spam_referrer": 1}


async def test_no_raw_ip_anywhere_in_the_database(
    client: httpx.AsyncClient, demo: Any, db: Store, settings: Settings
) -> None:
    for ip in (LONDON, MILTON, "2001:db8::7"):
        await visit(client, PAGE + "?gclid=x", ip=ip)
    await visit(client, ua=GOOGLEBOT, ip="203.0.113.77")
    hashes = [r["ip_hash"] for r in await db.fetchall("SELECT ip_hash FROM sessions")]
    assert len(set(hashes)) == 3 and all(len(h) == 32 for h in hashes)
    if db.dialect == "sqlite":
        # The file itself, WAL included: nothing anywhere, not even in free pages.
        raw = b""
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for f in path.parent.glob(path.name + "*"):
            raw += f.read_bytes()
        for ip in (LONDON, MILTON, "2001:db8::7", "203.0.113.77", "198.18.0.1"):
            assert ip.encode() not in raw
        tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        tables_sql = (
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = current_schema()"
        )
    tables = [r["name"] for r in await db.fetchall(tables_sql)]
    assert "sessions" in tables and "page_views" in tables
    for table in tables:
        for row in await db.fetchall(f"SELECT * FROM {table}"):
            text = orjson.dumps(row, default=str).decode()
            for ip in (LONDON, MILTON, "2001:db8::7", "203.0.113.77", "198.18.0.1"):
                assert ip not in text


async def test_only_the_proxys_own_forwarded_entry_is_believed(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    for forged in ("1.2.3.4", "5.6.7.8"):
        await visit(client, headers={"x-forwarded-for": f"{forged}, {MILTON}"})
    rows = await db.fetchall("SELECT ip_hash, country FROM sessions")
    assert len(rows) == 2 and rows[0] == rows[1] and rows[0]["country"] == "US"


async def test_ga_client_id_is_bounded(client: httpx.AsyncClient, demo: Any, db: Store) -> None:
    r = await visit(client, ga="x" * 65)
    assert r.status_code == 422 and r.json()["error"]["field"] == "ga"
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 0


async def test_site_parameter_names_reach_the_session(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
    await set_site_params(db, site_id=site_id, params={"keyword": ["q_kw"]}, now_ms=1)
    await visit(client, PAGE + "?gclid=g&q_kw=%E7%9F%AF%E6%AD%A3")
    assert await db.fetchval("SELECT keyword FROM sessions") == "矯正"


async def test_rate_limit_hook_and_inserted_steps(db: Store, demo: Any) -> None:
    seen: list[str] = []

    async def audit(p: Pipeline, v: Visit, tx: Any) -> str | None:
        seen.append(v.ip)
        return None

    pipeline = Pipeline(db, IngestConfig("k", limiter=lambda v: v.ip != "198.51.100.9"))
    pipeline.insert_before("rate_limit", "audit", audit)
    assert [n for n, _ in pipeline.steps][:5] == [
        "origin",
        "bot",
        "spam_referrer",
        "audit",
        "rate_limit",
    ]

    def visit(ip: str) -> Visit:
        return Visit("demo", PAGE, 1_767_225_600_000, user_agent=CHROME, accept_language=EN, ip=ip)

    blocked = await pipeline.run(visit("198.51.100.9"))
    assert blocked.dropped == "rate_limited" and blocked.swaps == []
    passed = await pipeline.run(visit("198.51.100.10"))
    assert passed.dropped is None and len(passed.swaps) == 3 and passed.session_id
    assert seen == ["198.51.100.9", "198.51.100.10"]
    assert await drop_counts(db) == {"rate_limited": 1}


def test_origin_rules() -> None:
    domains = ["clinic.example", "www.other.example"]
    assert origin_allowed(domains, "", "https://clinic.example/a")
    assert origin_allowed(domains, "https://www.clinic.example", "https://shop.clinic.example/")
    assert origin_allowed(domains, "https://other.example", "https://other.example/")
    assert not origin_allowed(domains, "https://evil.example", "https://clinic.example/")
    assert not origin_allowed(domains, "null", "https://clinic.example/")
    assert not origin_allowed(domains, "", "https://notclinic.example/")
    assert not origin_allowed(domains, "", "https://clinic.example.evil.com/")
    assert origin_allowed([], "https://anything.example", "https://x.example/")


async def test_source_rules_choose_a_static_number_or_keep_the_original(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    site = await db.fetchone("SELECT id, advertiser_id FROM sites WHERE site_key = 'demo'")
    assert site is not None
    async with db.write() as tx:
        flyer = await numbers.add_number(
            tx,
            advertiser_id=site["advertiser_id"],
            number="+815017990001",
            forward_to="+81312345678",
            kind="source",
            site_id=site["id"],
            source_label="flyer",
            now_ms=1,
        )
        await rules.add_rule(
            tx,
            site_id=site["id"],
            kind="param",
            match_key="cp",
            match_value="flyer",
            action="number",
            number_id=flyer,
            now_ms=1,
        )
        await tx.execute(
            "UPDATE sites SET untracked_policy = 'original' WHERE id = :s", {"s": site["id"]}
        )
    body = (await visit(client, PAGE + "?cp=flyer")).json()
    # The flyer rule applies to every target: each shows the static number, no lease.
    assert {s["number"] for s in body["swaps"]} == {"+815017990001"} and len(body["swaps"]) == 3
    assert body["ttl"] > 0
    assert await db.fetchval("SELECT COUNT(*) FROM leases") == 0
    # An untracked (direct) visit keeps the page's numbers on this site ...
    assert (await visit(client, PAGE)).json()["swaps"] == []
    # ... while an ad click is leased numbers from the pools.
    body = (await visit(client, PAGE + "?gclid=abc")).json()
    assert len(body["swaps"]) == 3 and "+815017990001" not in {s["number"] for s in body["swaps"]}
    assert await db.fetchval("SELECT COUNT(*) FROM leases") == 3
    assert await db.fetchval("SELECT COUNT(*) FROM sessions") == 3


async def test_site_settings_changed_elsewhere_apply_to_the_next_visit(
    db: Store, demo: Any, settings: Settings
) -> None:
    """The pipeline keeps a site's settings between visits; a change through this process,
    or (SQLite) through another process such as the CLI, is seen by the very next visit."""
    from backend.storage import open_database

    pipeline = Pipeline(db, IngestConfig("k"))

    def at(n: int) -> Visit:
        return Visit(
            "demo", PAGE, 1_767_225_600_000 + n, user_agent=CHROME, accept_language=EN, ip=LONDON
        )

    assert (await pipeline.run(at(1))).dropped is None
    async with db.write() as tx:
        await tx.execute("UPDATE sites SET domains = '[\"elsewhere.example\"]'")
    assert (await pipeline.run(at(2))).dropped == "origin_not_allowed"
    if db.dialect != "sqlite":
        return
    other = await open_database(settings.database_url)  # another process's connection
    try:
        await other.execute("UPDATE sites SET domains = '[]'")
    finally:
        await other.close()
    assert (await pipeline.run(at(3))).dropped is None


async def test_the_visit_stores_gtags_session_ids_validated(
    client: httpx.AsyncClient, demo: Any, db: Store
) -> None:
    r = await visit(client, ga="555.1700000000", gs="_ga_TEST1234=GS1.1.1700000123,<script>,X.1")
    assert r.status_code == 200, r.text
    first = await db.fetchone("SELECT id, ga_sessions FROM sessions ORDER BY id DESC LIMIT 1")
    assert first is not None and first["ga_sessions"] == "TEST1234.1700000123"
    # gtag starts a new GA session after 30 idle minutes: the next page brings the new id.
    r = await visit(client, PAGE + "next", token=r.json()["token"], gs="TEST1234.1700009999")
    again = await db.fetchval("SELECT ga_sessions FROM sessions WHERE id = :i", {"i": first["id"]})
    assert again == "TEST1234.1700009999"
