"""A visitor's URL or referrer that does not parse is treated as absent: never a 500.

``urlsplit`` raises ``ValueError`` on some strings (``[`` once a ``//`` is put in front,
``http://[::1/``, ``http://[zz]/``) and ``.port`` raises on others (``http://a:b/``). Every
URL a visitor, a carrier or a user sends goes through ``pool.urls``; these tests throw
such strings at ``POST /v1/session`` and ``POST /v1/heartbeat``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from backend.settings import Settings
from pool import rules
from pool.store import Store
from tests.conftest import GUARD_OFF, make_settings
from tests.hardening.conftest import BROWSER_HEADERS

FIXTURES_OK = hypothesis_settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Strings that made the standard library raise somewhere on the ingest path.
BAD_URLS = [
    "[",
    "]",
    "http://[::1/",
    "http://[zz]/",
    "https://[::1",
    "//[",
    "http://a:b/",
    "http://127.0.0.1:99999999/",
    "http://[::1]:x/",
    "http://[::1]:65536/",
    "http://127.0.0.1/?gclid=[",
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Rate limit and live-lease cap off, so every request reaches the last step."""
    return make_settings(database_url, **GUARD_OFF)


async def _no_domains(db: Store) -> None:
    """The demo site without domains: every page may use its key (the origin step passes)."""
    async with db.write() as tx:
        await tx.execute("UPDATE sites SET domains = '[]' WHERE site_key = 'demo'")


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    data = r.json()
    if r.status_code >= 400:
        assert set(data) == {"error"} and data["error"]["status"] == r.status_code
    else:
        assert isinstance(data["token"], str) and isinstance(data["swaps"], list)


@pytest.mark.parametrize("bad", BAD_URLS)
async def test_unparseable_referrer_is_treated_as_absent(
    client: httpx.AsyncClient, db: Store, demo: Any, bad: str
) -> None:
    body = {"site": "demo", "url": "http://127.0.0.1/examples/", "referrer": bad}
    r = await client.post("/v1/session", json=body, headers=BROWSER_HEADERS)
    _check(r)
    assert r.status_code == 200 and r.json()["swaps"]
    row = await db.fetchone("SELECT channel, referrer FROM sessions")
    assert row is not None and row["channel"] == "direct"


@pytest.mark.parametrize("bad", BAD_URLS)
async def test_unparseable_url_on_a_site_without_domains_is_not_a_500(
    client: httpx.AsyncClient, db: Store, demo: Any, bad: str
) -> None:
    await _no_domains(db)
    r = await client.post("/v1/session", json={"site": "demo", "url": bad}, headers=BROWSER_HEADERS)
    _check(r)
    assert r.status_code == 200


@pytest.mark.parametrize("bad", BAD_URLS)
async def test_unparseable_heartbeat_page_is_not_a_500(
    client: httpx.AsyncClient, db: Store, demo: Any, bad: str
) -> None:
    await _no_domains(db)
    body = {"site": "demo", "url": "http://127.0.0.1/examples/"}
    token = (await client.post("/v1/session", json=body, headers=BROWSER_HEADERS)).json()["token"]
    r = await client.post(
        "/v1/heartbeat",
        json={"token": token, "url": bad, "referrer": bad},
        headers={**BROWSER_HEADERS, "origin": bad},
    )
    assert r.status_code == 200, r.text


def test_source_rules_take_an_unparseable_url_and_referrer() -> None:
    for bad in BAD_URLS:
        visit = rules.Visit.from_url(bad, bad)
        choice = rules.choose_number_source(visit, [], target_id=1, pool_id=2)
        assert choice.action == "pool"


# Pieces that make URL parsers trip: brackets, colons, ports, percent signs, schemes.
_PIECES = st.sampled_from(
    ["[", "]", ":", "//", "@", "%", "%ff", "?", "#", "::1", "v1.", "http:", "https://", "x"]
)
url_ish = st.one_of(
    st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=12).map("".join),
    st.builds(
        lambda scheme, host, port, rest: f"{scheme}://{host}{port}/{rest}",
        st.sampled_from(["http", "https", "", "ftp"]),
        st.one_of(st.sampled_from(["[", "[::1", "[zz]", "127.0.0.1", "a"]), st.text(max_size=8)),
        st.one_of(st.just(""), st.text(max_size=8).map(lambda p: ":" + p)),
        st.text(max_size=20),
    ),
)


@FIXTURES_OK
@given(url=url_ish, referrer=url_ish, origin=url_ish)
async def test_session_takes_any_url_ish_string(
    client: httpx.AsyncClient, db: Store, demo: Any, url: str, referrer: str, origin: str
) -> None:
    await _no_domains(db)
    body = {"site": "demo", "url": url or "x", "referrer": referrer}
    headers = {**BROWSER_HEADERS}
    if origin.isprintable() and origin.isascii() and origin.strip() == origin:
        headers["origin"] = origin
    r = await client.post("/v1/session", json=body, headers=headers)
    _check(r)


async def test_control_characters_in_query_values_are_not_stored(
    client: httpx.AsyncClient, demo: Any, db: Any
) -> None:
    # `%00` decodes to a NUL, which PostgreSQL text cannot hold (a 500 there before).
    url = "http://127.0.0.1/examples/?utm_source=a%00b&utm_medium=cpc&utm_term=k%00w%01x&%00q=1"
    r = await client.post("/v1/session", json={"site": "demo", "url": url, "referrer": ""})
    assert r.status_code == 200 and r.json()["swaps"]
    row = await db.fetchone("SELECT source, keyword FROM sessions")
    assert row == {"source": "a b", "keyword": "k w x"}
