"""Ids in /api paths are bounded: one past what any store holds is a 404, never a 500."""

from __future__ import annotations

from typing import Any

import httpx

HUGE = "99999999999999999999"


async def test_ids_beyond_int64_are_not_found(client: httpx.AsyncClient, demo: Any) -> None:
    auth = {"authorization": "Bearer " + demo["api_token"]}
    for method, path in [
        ("GET", f"/api/numbers/{HUGE}"),
        ("POST", f"/api/numbers/{HUGE}/retire"),
        ("GET", f"/api/pools/{HUGE}"),
        ("GET", f"/api/pools/{HUGE}/health"),
        ("DELETE", f"/api/rules/{HUGE}"),
    ]:
        r = await client.request(method, path, headers=auth)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["error"]["status"] == 404
