"""GA4 Measurement Protocol: call events sent to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from attribution import conversions as conv
from attribution.outbound import OutboundPolicy
from backend.settings import Settings
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World, make_call, make_session

# The local receiver stands for an operator's relay, allowed by name as in production
# (tests/api/test_ga4_trust.py runs with the setting off).
LOCAL = OutboundPolicy.parse("127.0.0.1")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(outbound_allow_hosts="127.0.0.1")


class Receiver:
    """A local stand-in for the collection endpoint: records what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 204
        self.redirect_to = ""  # answer with a 302 there
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.received.append(
                    {
                        "path": self.path,
                        "content_type": self.headers["Content-Type"],
                        "body": orjson.loads(self.rfile.read(length)),
                    }
                )
                self._answer()

            def do_GET(self) -> None:  # where a followed 302 would arrive
                outer.received.append({"path": self.path, "method": "GET"})
                self._answer()

            def _answer(self) -> None:
                self.send_response(302 if outer.redirect_to else outer.status)
                if outer.redirect_to:
                    self.send_header("Location", outer.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mp/collect"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    async def send_site_here(self, db: Any, site_id: int, now: int, **ga4: str) -> None:
        """Give the site GA4 settings that send its calls to this receiver."""
        await conv.put_ga4(
            db,
            site_id=site_id,
            settings=conv.GA4Settings("G-TEST1234", "secret-abcdef-123", self.url, **ga4),
            now_ms=now,
            policy=LOCAL,
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_client_id_from_ga_cookie() -> None:
    assert conv.ga_client_id("GA1.1.1234567890.1700000000") == "1234567890.1700000000"
    assert conv.ga_client_id("1234567890.1700000000") == "1234567890.1700000000"
    assert conv.ga_client_id("<script>") == ""


def test_endpoint_must_be_google_or_an_allowed_host() -> None:
    assert conv.ga4_endpoint_allowed("https://region1.google-analytics.com/mp/collect")
    assert not conv.ga4_endpoint_allowed("http://127.0.0.1:9999/mp/collect")
    assert conv.ga4_endpoint_allowed("http://127.0.0.1:9999/mp/collect", LOCAL)
    assert not conv.ga4_endpoint_allowed("http://127.0.0.2:9999/mp/collect", LOCAL)
    relay = OutboundPolicy.parse("relay.internal")
    assert conv.ga4_endpoint_allowed("http://relay.internal:8080/mp/collect", relay)
    assert not conv.ga4_endpoint_allowed("http://www.google-analytics.com/mp/collect")
    assert not conv.ga4_endpoint_allowed("https://10.0.0.5/mp/collect")
    assert not conv.ga4_endpoint_allowed("https://evil.example/google-analytics.com")
    assert not conv.ga4_endpoint_allowed("https://www.google-analytics.com/mp/collect?x=1")


async def test_push_sends_each_call_once(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, receiver: Receiver
) -> None:
    now = now_ms()
    session = await world.add_session(
        db,
        now - 600_000,
        source="google",
        medium="cpc",
        campaign="implant",
        ga_client_id="GA1.1.555.1700000000",
    )
    call = await world.add_call(db, now - 60_000, session_id=session)
    url = f"/api/sites/{world.site_id}/ga4"
    r = await client.put(
        url,
        json={
            "measurement_id": "G-TEST1234",
            "api_secret": "secret-abcdef-123",
            "endpoint_url": receiver.url,
        },
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["api_secret"] == "*************-123"
    r = await client.post(url + "/push", headers=world.auth())
    assert r.status_code == 200
    # The seeded calls of early November are past GA4's 72-hour window: skipped, not sent.
    assert r.json()["sent"] == 1 and r.json()["failed"] == 0
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["content_type"] == "application/json"
    query = parse_qs(urlsplit(got["path"]).query)
    assert query == {"measurement_id": ["G-TEST1234"], "api_secret": ["secret-abcdef-123"]}
    body = got["body"]
    assert body["client_id"] == "555.1700000000"
    assert body["timestamp_micros"] == (now - 60_000) * 1000
    event = body["events"][0]
    assert event["name"] == "phone_call"
    assert event["params"]["call_source"] == "google"
    assert event["params"]["call_campaign"] == "implant"
    assert event["params"]["call_duration"] == 80
    # Pushed once: the next push sends nothing.
    r = await client.post(url + "/push", headers=world.auth())
    assert r.json()["sent"] == 0 and len(receiver.received) == 1
    ledger = await db.fetchval(
        "SELECT click_id FROM conversion_ledger WHERE platform = 'ga4' AND call_id = :c",
        {"c": call},
    )
    assert ledger == "555.1700000000"


async def test_a_failed_send_is_tried_again(
    db: SQLiteDatabase, world: World, receiver: Receiver
) -> None:
    now = now_ms()
    session = await world.add_session(db, now - 60_000, ga_client_id="GA1.1.77.88")
    await world.add_call(db, now - 30_000, session_id=session)
    await receiver.send_site_here(db, world.site_id, now)
    receiver.status = 500
    first = await conv.push_ga4(
        db, site_id=world.site_id, start_ms=0, end_ms=now, now_ms=now, policy=LOCAL
    )
    assert (first.sent, first.failed) == (0, 1)
    receiver.status = 204
    second = await conv.push_ga4(
        db, site_id=world.site_id, start_ms=0, end_ms=now, now_ms=now, policy=LOCAL
    )
    assert (second.sent, second.failed) == (1, 0)
    assert len(receiver.received) == 2


async def test_bad_ga4_settings_are_refused(client: httpx.AsyncClient, world: World) -> None:
    url = f"/api/sites/{world.site_id}/ga4"
    assert (await client.get(url, headers=world.auth())).status_code == 404
    good = {"measurement_id": "G-TEST1234", "api_secret": "secret-abcdef-123"}
    for bad in (
        {**good, "measurement_id": "UA-1"},
        {**good, "api_secret": "short"},
        {**good, "endpoint_url": "https://internal.example/collect"},
        {**good, "event_name": "1bad"},
        {**good, "enabled": "yes"},
        {"measurement_id": "G-TEST1234"},
    ):
        r = await client.put(url, json=bad, headers=world.auth())
        assert r.status_code == 422, bad
    assert (await client.get(url, headers=world.auth())).status_code == 404


async def test_the_server_pushes_on_its_own(settings: Settings, receiver: Receiver) -> None:
    import asyncio

    from backend import accounts, create_app

    app = create_app(settings.replace(ga4_push_seconds=1))
    async with app.router.lifespan_context(app):
        db = app.state.db
        now = now_ms()
        async with db.write() as tx:
            adv = await accounts.create_advertiser(tx, "A", now)
            site = await accounts.create_site(
                tx, advertiser_id=adv, site_key="s", name="S", domains=[], now_ms=now
            )
        session = await make_session(db, site_id=site, started_ms=now, ga_client_id="GA1.1.9.9")
        await make_call(db, advertiser_id=adv, site_id=site, started_ms=now, session_id=session)
        await receiver.send_site_here(db, site, now)
        for _ in range(100):  # the job runs every second; wait for it, up to ten seconds
            if receiver.received:
                break
            await asyncio.sleep(0.1)
    assert [r["body"]["client_id"] for r in receiver.received] == ["9.9"]
