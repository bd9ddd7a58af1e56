"""A JSON body with a field the endpoint does not take is refused (422 naming it), not
stored without it: a misspelt ``untracked`` for ``untracked_policy`` used to answer 200
and change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import World

# (method, path, a body the endpoint takes, the misspelt field added to it)
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("PUT", "/api/pools/policy", {"site": "demo", "untracked_policy": "pool"}, "untracked"),
    ("PATCH", "/api/pools/1", {"advertiser_id": 1}, "sise"),
    ("POST", "/api/pools", {"site": "demo", "target": "+81300000000"}, "size"),
    ("POST", "/api/numbers", {"site": "demo", "number": "+815017999999"}, "forward"),
    ("POST", "/api/rules", {"site": "demo", "kind": "source", "action": "pool"}, "value"),
    ("POST", "/api/tokens", {"name": "ci"}, "readonly"),
    ("POST", "/api/reservation-numbers", {"number": "050-1234-0099"}, "advertiser"),
    ("POST", "/api/reservation-phones", {"phone": "03-1111-2222"}, "name"),
    ("PUT", "/api/sms-templates", {"kind": "reminder", "lang": "ja", "body": "x"}, "text"),
    ("POST", "/api/reservations", {"lead_id": "l1", "phone": "090-1234-5678"}, "starts"),
]


@pytest.mark.parametrize(("method", "path", "body", "typo"), CASES)
async def test_an_unknown_field_is_422_naming_it(
    client: httpx.AsyncClient,
    world: World,
    method: str,
    path: str,
    body: dict[str, Any],
    typo: str,
) -> None:
    r = await client.request(method, path, json={**body, typo: 1}, headers=world.auth())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == typo
