"""The public edge: body limits on every public POST, CORS, baseline headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.responses import PlainTextResponse

from backend import create_app
from backend.errors import is_machine_path
from backend.middleware import CompressionMiddleware
from backend.settings import Settings
from pool.store import Store
from tests.hardening.conftest import BROWSER_HEADERS, snapshot


def _is_error(r: httpx.Response, status: int, code: str) -> None:
    """A JSON error on a machine path; on the forms people post, the layout's error page."""
    assert r.status_code == status, r.text
    if not is_machine_path(r.request.url.path):
        assert r.headers["content-type"].startswith("text/html")
        assert f"<code>{code}</code>" in r.text and "/dashboard/static/app.css" in r.text
        return
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    assert body["error"]["message"]


PUBLIC_POSTS = [
    "/v1/session",
    "/v1/heartbeat",
    "/twilio/voice",
    "/twilio/status",
    "/twilio/dial",
    "/twilio/recording",
    "/twilio/flow",
    "/webhooks/calls",
    "/login",
    "/logout",
]


async def test_oversized_declared_bodies_are_413_on_every_public_post(
    client: httpx.AsyncClient, db: Store, demo: Any, settings: Settings
) -> None:
    before = await snapshot(db, counters=True)
    for path in PUBLIC_POSTS:
        webhook = path.startswith(("/twilio/", "/webhooks/"))
        limit = settings.max_webhook_body_bytes if webhook else settings.max_body_bytes
        r = await client.post(path, content=b"x" * (limit + 1), headers=BROWSER_HEADERS)
        _is_error(r, 413, "payload_too_large")
    assert await snapshot(db, counters=True) == before


async def test_oversized_chunked_bodies_are_413_while_reading(
    client: httpx.AsyncClient, db: Store, demo: Any, settings: Settings
) -> None:
    before = await snapshot(db, counters=True)
    padding = "p" * (settings.max_body_bytes + 10)
    body = orjson.dumps({"site": "demo", "url": "http://127.0.0.1/", "title": padding})

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    r = await client.post("/v1/session", content=chunks(), headers=BROWSER_HEADERS)
    assert "content-length" not in r.request.headers
    _is_error(r, 413, "payload_too_large")
    assert await snapshot(db, counters=True) == before


@pytest.mark.stores("sqlite")
async def test_a_body_within_the_limit_passes(
    client: httpx.AsyncClient, demo: Any, settings: Settings
) -> None:
    body = {"site": "demo", "url": "http://127.0.0.1/", "referrer": "", "title": "t" * 500}
    r = await client.post("/v1/session", content=orjson.dumps(body), headers=BROWSER_HEADERS)
    assert r.status_code == 200


@pytest.mark.stores("sqlite")
async def test_a_junk_content_length_is_400(client: httpx.AsyncClient) -> None:
    headers = {**BROWSER_HEADERS, "content-length": "12abc"}
    r = await client.post("/v1/session", content=b"{}", headers=headers)
    _is_error(r, 400, "bad_request")


@pytest.mark.stores("sqlite")
async def test_snippet_answers_are_readable_cross_origin_errors_included(
    client: httpx.AsyncClient, demo: Any
) -> None:
    headers = {**BROWSER_HEADERS, "origin": "http://127.0.0.1:8000"}
    ok = await client.post(
        "/v1/session", content=b'{"site":"demo","url":"http://127.0.0.1/"}', headers=headers
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "*"
    bad = await client.post("/v1/session", content=b"{nope", headers=headers)
    assert bad.status_code == 400
    assert bad.headers["access-control-allow-origin"] == "*"
    js = await client.get("/dni.js", headers={"origin": "https://shop.example"})
    assert js.headers["access-control-allow-origin"] == "*"
    # No cookies ride along: a wildcard may never be combined with credentials.
    assert "access-control-allow-credentials" not in ok.headers


@pytest.mark.stores("sqlite")
async def test_snippet_preflight_is_allowed(client: httpx.AsyncClient) -> None:
    r = await client.options(
        "/v1/session",
        headers={
            "origin": "https://shop.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]


@pytest.mark.stores("sqlite")
async def test_no_cors_outside_the_snippet(client: httpx.AsyncClient) -> None:
    headers = {"origin": "https://evil.example", "access-control-request-method": "GET"}
    for path in ["/api/calls", "/api/openapi.json", "/dashboard", "/dashboard/login", "/healthz"]:
        for method in ("GET", "OPTIONS", "POST"):
            r = await client.request(method, path, headers=headers)
            leaked = [h for h in r.headers if h.lower().startswith("access-control-")]
            assert not leaked, (method, path, r.status_code, leaked)


@pytest.mark.stores("sqlite")
async def test_baseline_headers_on_json_answers(client: httpx.AsyncClient, demo: Any) -> None:
    r = await client.post(
        "/v1/session", content=b'{"site":"demo","url":"http://127.0.0.1/"}', headers=BROWSER_HEADERS
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    api = await client.get("/api/nothing-here")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["cache-control"] == "no-store"
    # The snippet keeps its own caching.
    js = await client.get("/dni.js")
    assert js.headers["cache-control"].startswith("public")
    assert js.headers["x-content-type-options"] == "nosniff"


@pytest.mark.stores("sqlite")
async def test_heartbeat_floods_from_one_address_are_429(app: Any, demo: Any) -> None:
    from backend.middleware import HEARTBEAT_BURST, HEARTBEAT_PER_MINUTE

    body = {"site": "demo", "url": "http://127.0.0.1/"}

    def at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 5555))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async with at("203.0.113.7") as flood, at("198.51.100.7") as person:
        token = (await flood.post("/v1/session", json=body, headers=BROWSER_HEADERS)).json()
        start = time.monotonic()
        statuses = [
            (await flood.post("/v1/heartbeat", json={"token": token["token"]})).status_code
            for _ in range(HEARTBEAT_BURST * 3)
        ]
        refilled = (time.monotonic() - start) * HEARTBEAT_PER_MINUTE / 60
        assert statuses[:HEARTBEAT_BURST] == [200] * HEARTBEAT_BURST
        assert set(statuses) == {200, 429}
        assert statuses.count(200) <= HEARTBEAT_BURST + refilled + 1
        r = await flood.post("/v1/heartbeat", json={"token": token["token"]})
        _is_error(r, 429, "rate_limited")
        assert r.headers["access-control-allow-origin"] == "*"
        # Another address is not affected.
        mine = (await person.post("/v1/session", json=body, headers=BROWSER_HEADERS)).json()
        assert (
            await person.post("/v1/heartbeat", json={"token": mine["token"]})
        ).status_code == 200


@pytest.mark.stores("sqlite")
async def test_oversized_chunked_forms_are_413_while_parsing(settings: Settings) -> None:
    """Form routes read through the same bounded receive (login, Twilio callbacks)."""
    app = create_app(settings.replace(twilio_auth_token="test-token"))
    async with app.router.lifespan_context(app):
        before = await snapshot(app.state.db, counters=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for path, limit in [
                ("/login", settings.max_body_bytes),
                ("/twilio/status", settings.max_webhook_body_bytes),
            ]:
                form = b"csrf=x&email=a%40b.example&password=" + b"p" * (limit + 10)

                async def chunks(data: bytes = form) -> AsyncIterator[bytes]:
                    for i in range(0, len(data), 4096):
                        yield data[i : i + 4096]

                # A signature (wrong, but present) so the webhook goes on to read the form.
                headers = {
                    "content-type": "application/x-www-form-urlencoded",
                    "x-twilio-signature": "x",
                }
                r = await c.post(path, content=chunks(), headers=headers)
                assert r.status_code == 413, (path, r.status_code, r.text[:200])
        assert await snapshot(app.state.db, counters=True) == before


@pytest.mark.parametrize(
    ("path", "compressed"),
    [
        ("/v1/session", False),
        ("/twilio/voice", False),
        ("/webhooks/calls", False),
        ("/dni.js", True),
        ("/api/exports/paths", True),
        ("/dashboard/calls", True),
    ],
)
async def test_compression_skips_only_the_snippet_and_carrier_answers(
    path: str, compressed: bool
) -> None:
    async def big(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("x" * 4000)(scope, receive, send)

    transport = httpx.ASGITransport(app=CompressionMiddleware(big))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get(path, headers={"accept-encoding": "gzip"})
    assert r.text == "x" * 4000
    assert (r.headers.get("content-encoding") == "gzip") is compressed
