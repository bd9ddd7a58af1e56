"""One error shape: JSON on machine paths, an HTML page elsewhere, never a 500 for bad input."""

from __future__ import annotations

from typing import Any

import httpx


def _is_error_shape(body: dict[str, Any], status: int) -> bool:
    err = body["error"]
    return err["status"] == status and isinstance(err["code"], str) and err["message"]


async def test_unknown_api_path_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert _is_error_shape(r.json(), 404)


async def test_unknown_dashboard_path_is_an_html_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "404" in r.text


async def test_malformed_json_is_400(client: httpx.AsyncClient, demo: Any) -> None:
    r = await client.post(
        "/v1/session", content=b'{"site": "demo",', headers={"content-type": "text/plain"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"


async def test_oversized_body_is_413(client: httpx.AsyncClient, demo: Any) -> None:
    r = await client.post("/v1/session", content=b"x" * 20000)
    assert r.status_code == 413
    assert _is_error_shape(r.json(), 413)


async def test_wrong_types_and_long_fields_are_422(client: httpx.AsyncClient, demo: Any) -> None:
    r = await client.post("/v1/session", json={"site": "demo", "url": 5})
    assert r.status_code == 422 and r.json()["error"]["field"] == "url"
    r = await client.post(
        "/v1/session", json={"site": "demo", "url": "http://x/", "token": "t" * 600}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "token"
    r = await client.post("/v1/session", json={"site": "d" * 65, "url": "http://x/"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "site"


async def test_wrong_method_is_405_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/session")
    assert r.status_code == 405
    assert _is_error_shape(r.json(), 405)
