"""Property tests: arbitrary input to the parsers and the public endpoints.

The endpoints must never answer 5xx, must answer either the documented shape or the JSON
error shape, and must leave every stored row as it was whenever they answer 4xx.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pool.numbers import NumberError, formats, to_e164
from pool.store import Store
from tests.hardening.conftest import BROWSER_HEADERS, COUNTERS, snapshot

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
FIXTURES_OK = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- phone numbers ---------------------------------------------------------------------

phone_like = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789+-() .#*xX", max_size=30),
    st.from_regex(r"\+?[0-9]{1,3}[ -]?\(?[0-9]{1,4}\)?[ -]?[0-9]{2,4}[ -]?[0-9]{2,6}"),
    st.sampled_from(["03-1234-5678", "0120-123-456", "+1 212 555 0100", "050-1700-0001"]),
)
regions = st.one_of(st.sampled_from(["JP", "US", "GB", "jp", "ZZ", ""]), st.text(max_size=4))


@settings(max_examples=250, deadline=None)
@given(phone_like, regions)
def test_to_e164_returns_valid_e164_or_refuses(text: str, region: str) -> None:
    try:
        result = to_e164(text, region)
    except NumberError:
        return
    assert E164.match(result), result
    assert phonenumbers.is_valid_number(phonenumbers.parse(result))
    # Idempotent from any region, and printable in every format.
    assert to_e164(result, "US") == result
    f = formats(result)
    assert f.e164 == result and f.national and f.international


# --- POST /v1/session ------------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    # The stdlib writes what orjson refuses (integers past 64 bits, Infinity): more to try.
    return json.dumps(value).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.text(max_size=3000),
    st.sampled_from(
        ["demo", "http://127.0.0.1/?gclid=x", "https://www.google.com/", "javascript:alert(1)"]
    ),
)
session_objects = st.fixed_dictionaries(
    {},
    optional={
        "site": st.one_of(st.just("demo"), field_values),
        "url": field_values,
        "referrer": field_values,
        "token": field_values,
        "title": field_values,
        "ga": field_values,
        "extra": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(_dumps),
    session_objects.map(_dumps),
    st.text(max_size=200).map(str.encode),
)
content_types = st.sampled_from(
    ["text/plain;charset=UTF-8", "application/json", "application/x-www-form-urlencoded", ""]
)


def _check_answer(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    data = r.json()
    if r.status_code >= 400:
        assert set(data) == {"error"}
        err = data["error"]
        assert err["status"] == r.status_code
        assert isinstance(err["code"], str) and isinstance(err["message"], str)
        return
    assert r.status_code == 200
    assert isinstance(data["token"], str)
    assert isinstance(data["ttl"], int) and isinstance(data["heartbeat"], int)
    for swap in data["swaps"]:
        assert E164.match(swap["target"]) and E164.match(swap["number"])
        assert swap["national"] and swap["international"]


@FIXTURES_OK
@given(body=bodies, content_type=content_types)
async def test_session_endpoint_takes_any_body(
    client: httpx.AsyncClient, db: Store, demo: Any, body: bytes, content_type: str
) -> None:
    before = await snapshot(db, counters=True)
    headers = {**BROWSER_HEADERS, "content-type": content_type}
    r = await client.post("/v1/session", content=body, headers=headers)
    _check_answer(r)
    if r.status_code >= 400:
        after = await snapshot(db, counters=True)
        if r.status_code == 404:  # an unknown site key may be counted as a drop, nothing else
            after.pop(COUNTERS), before.pop(COUNTERS)
        assert after == before


@pytest.mark.stores("sqlite")
@FIXTURES_OK
@given(body=bodies)
async def test_heartbeat_endpoint_takes_any_body(
    client: httpx.AsyncClient, db: Store, demo: Any, body: bytes
) -> None:
    before = await snapshot(db, counters=True)
    r = await client.post("/v1/heartbeat", content=body, headers=BROWSER_HEADERS)
    assert r.status_code < 500, r.text
    data = r.json()
    if r.status_code >= 400:
        assert data["error"]["status"] == r.status_code
        assert await snapshot(db, counters=True) == before
    else:
        assert isinstance(data["ttl"], int)
