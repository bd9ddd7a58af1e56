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


async def test_one_list_of_machine_paths_picks_json_errors_and_machine_headers(
    client: httpx.AsyncClient,
) -> None:
    """``MACHINE_PREFIXES`` decides both: a JSON error, and no caching or framing (the edge
    used to keep a shorter list of its own, so /healthz or /demo errors could be cached)."""
    from backend.errors import MACHINE_PREFIXES

    for prefix in MACHINE_PREFIXES:
        r = await client.get(prefix.rstrip("/") + "/no-such-thing")
        assert r.status_code in (404, 405), (prefix, r.text)
        assert _is_error_shape(r.json(), r.status_code), prefix
        assert r.headers["cache-control"] == "no-store", prefix
        assert r.headers["x-frame-options"] == "DENY", prefix


async def test_pages_for_people_are_the_layouts_error_page_in_their_language(
    client: httpx.AsyncClient,
) -> None:
    """Errors outside the dashboard's handlers and inside them come from one renderer: the
    same page, in the visitor's language, with the stable code."""
    outside = await client.get("/no/such/page", headers={"accept-language": "ja"})
    # Signed out, a dashboard form post is refused by the dashboard's own wrapper.
    inside = await client.post("/dashboard/advertisers", headers={"accept-language": "ja"})
    assert inside.status_code == 401 and "<code>unauthorized</code>" in inside.text
    for r in (outside, inside):
        assert r.headers["content-type"].startswith("text/html")
        assert "/dashboard/static/app.css" in r.text
        assert "content-security-policy" in r.headers
    assert '<html lang="ja">' in outside.text and "<code>not_found</code>" in outside.text
    assert "ダッシュボードへ戻る" in outside.text


async def test_an_error_page_says_what_happened_in_the_visitors_language(
    client: httpx.AsyncClient,
) -> None:
    # The page was its status, the handler's English reason and a code: a Japanese
    # visitor read nothing in Japanese but the link home.
    ja = {"accept-language": "ja"}
    missing = await client.get("/no/such/page", headers=ja)
    assert "<h1>404 · ページが見つかりません</h1>" in missing.text
    signed_out = await client.post("/dashboard/advertisers", headers=ja)
    assert "<h1>401 · ログインしてください</h1>" in signed_out.text
    english = await client.get("/no/such/page", headers={"accept-language": "en"})
    assert "<h1>404 · Page not found</h1>" in english.text
