"""Where calls may be forwarded: premium-rate and satellite ranges never, other countries only
when the install allows them (``CALLPATH_FORWARD_COUNTRIES``; default: the site's country).

The attack: a member who may add numbers sets a number's ``forward_to`` (or a business
number, where calls go by default) to a premium-rate line they are paid for, or to a
satellite network, then calls the tracking number: every call is forwarded there at the
install's cost. Each way in (API, CSV import, dashboard, CLI) is refused the same way.
"""

from __future__ import annotations

from pathlib import Path
from shlex import split
from typing import Any

import httpx
import pytest

from backend import accounts
from backend.app import create_app
from backend.settings import Settings
from pool import numbers
from pool.destinations import check_destination, destination_problem, parse_countries
from pool.numbers import NumberError
from pool.store import Store
from tests.dashboard.conftest import login
from tests.pool.helpers import T0, PoolSite, add_pool, make_pool_site
from tests.support.server import demo_database, run_cli

PREMIUM_JP = "0990-123-456"  # ダイヤルQ2, premium rate
PREMIUM_US = "+1 900 234 5678"
SHARED_COST_DE = "+49 180 12345"
PERSONAL_GB = "+44 70 1234 5678"  # UK personal numbering, a revenue-share favourite
IRIDIUM = "+881 6 1234 5678"  # satellite: no country
INMARSAT = "+870 772 001 799"
INTL_PREMIUM = "+979 123 456 789"
US_OFFICE = "+1 212 555 0100"
REFUSED = [PREMIUM_JP, PREMIUM_US, SHARED_COST_DE, PERSONAL_GB, IRIDIUM, INMARSAT, INTL_PREMIUM]


def test_destination_rules() -> None:
    def problem(number: str, countries: tuple[str, ...] = ()) -> str:
        e164 = numbers.to_e164(number, "JP")
        return destination_problem(e164, site_country="JP", countries=countries)

    assert problem("03-1234-5678") == ""
    assert problem("0120-123-456") == ""  # toll-free: fine
    assert problem("0570-123-456") == ""  # ナビダイヤル, a business's own line
    assert "premium-rate" in problem(PREMIUM_JP)
    assert "premium-rate" in problem(PREMIUM_US, ("US",))  # allowed country, refused range
    assert "shared-cost" in problem(SHARED_COST_DE, ("DE",))
    assert "personal-numbering" in problem(PERSONAL_GB, ("GB",))
    for satellite in (IRIDIUM, INMARSAT, INTL_PREMIUM):
        assert "belongs to no country" in problem(satellite) or "premium" in problem(satellite)
        assert problem(satellite, ("JP", "US", "GB")) != ""
    assert "JP only" in problem(US_OFFICE)
    assert problem(US_OFFICE, ("JP", "US")) == ""
    assert "US only" in problem("03-1234-5678", ("US",))  # the list replaces the default
    assert check_destination("03-1234-5678", site_country="JP") == "+81312345678"
    with pytest.raises(NumberError) as caught:
        check_destination(PREMIUM_JP, site_country="JP", field="target")
    assert caught.value.field == "target"
    assert parse_countries(" jp, US ;gb") == {"JP", "US", "GB"}
    assert parse_countries("") == frozenset()
    with pytest.raises(ValueError, match="XX"):
        parse_countries("JP,XX")
    with pytest.raises(ValueError, match="001"):
        parse_countries("001")


def test_a_bad_country_list_stops_the_server_from_starting(settings: Settings) -> None:
    with pytest.raises(ValueError, match="CALLPATH_FORWARD_COUNTRIES"):
        create_app(settings.replace(forward_countries="JP,Japan"))


async def _member_token(db: Store, advertiser_id: int) -> dict[str, str]:
    async with db.write() as tx:
        user = await accounts.create_user(
            tx,
            email=f"m{advertiser_id}@example.com",
            password="pw",
            role="member",
            advertiser_id=advertiser_id,
            now_ms=T0,
        )
        token = await accounts.create_api_token(
            tx, user_id=user, advertiser_id=advertiser_id, name="t", now_ms=T0
        )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def site(db: Store) -> PoolSite:
    return await make_pool_site(db, size=1)


async def _count(db: Store, table: str) -> int:
    return int(await db.fetchval(f"SELECT COUNT(*) FROM {table}"))


async def test_the_api_refuses_to_forward_to_premium_satellite_or_foreign_numbers(
    client: httpx.AsyncClient, db: Store, site: PoolSite
) -> None:
    headers = await _member_token(db, site.advertiser_id)
    before = await _count(db, "tracking_numbers")
    for n, destination in enumerate([*REFUSED, US_OFFICE]):
        r = await client.post(
            "/api/numbers",
            headers=headers,
            json={
                "number": f"0120-111-{n:03d}",
                "kind": "source",
                "site": "s1",
                "label": "Flyer",
                "forward_to": destination,
            },
        )
        assert r.status_code == 422, (destination, r.text)
        error = r.json()["error"]
        assert error["status"] == 422
        assert [e["field"] for e in error["errors"]] == ["forward_to"], error
        assert "never forwarded" in error["message"] or "JP only" in error["message"]
    # A business number calls would go to by default is checked the same way.
    r = await client.post(
        "/api/pools", headers=headers, json={"site": "s1", "target": PREMIUM_JP, "label": "Q2"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "target", r.text
    r = await client.post(
        "/api/numbers/import",
        headers={**headers, "content-type": "text/csv"},
        content=(
            "number,kind,site,target,forward_to,label\n"
            "050-2222-0001,pool,s1,03-1234-5678,,\n"
            f"0120-222-000,source,s1,,{IRIDIUM},Flyer\n"
        ).encode(),
    )
    assert r.status_code == 422
    assert r.json()["error"]["errors"] == [
        {"row": 3, "field": "forward_to", "reason": r.json()["error"]["errors"][0]["reason"]}
    ]
    assert "belongs to no country" in r.json()["error"]["errors"][0]["reason"]
    assert await _count(db, "tracking_numbers") == before
    assert await _count(db, "pools") == 1
    # What is allowed still works.
    r = await client.post(
        "/api/numbers",
        headers=headers,
        json={"number": "0120-111-999", "kind": "source", "site": "s1", "label": "Flyer"},
    )
    assert r.status_code == 422  # no target and no forward_to: the old rule
    r = await client.post(
        "/api/numbers",
        headers=headers,
        json={
            "number": "0120-111-999",
            "kind": "source",
            "site": "s1",
            "label": "Flyer",
            "forward_to": "0570-123-456",
        },
    )
    assert r.status_code == 201, r.text


async def test_a_stored_business_number_that_is_premium_is_not_a_default_destination(
    client: httpx.AsyncClient, db: Store, site: PoolSite
) -> None:
    # Stored before the check existed (or by hand): numbers added to its pool that would
    # forward to it by default are refused, naming the target.
    async with db.write() as tx:
        target = await accounts.add_target(
            tx, site_id=site.site_id, number="+81990123456", label="Q2", now_ms=T0
        )
        await add_pool(tx, site_id=site.site_id, target_id=target, name="Q2")
    headers = await _member_token(db, site.advertiser_id)
    r = await client.post(
        "/api/numbers",
        headers=headers,
        json={"number": "050-2222-0001", "site": "s1", "target": PREMIUM_JP},
    )
    assert r.status_code == 422
    (error,) = r.json()["error"]["errors"]
    assert error["field"] == "target" and "premium-rate" in error["reason"]


async def test_the_install_may_allow_more_countries_but_never_premium_ranges(
    app: Any, client: httpx.AsyncClient, db: Store, site: PoolSite
) -> None:
    app.state.settings = app.state.settings.replace(forward_countries="JP,US")
    headers = await _member_token(db, site.advertiser_id)

    async def add(number: str, destination: str) -> httpx.Response:
        return await client.post(
            "/api/numbers",
            headers=headers,
            json={
                "number": number,
                "kind": "source",
                "site": "s1",
                "label": "NY ad",
                "forward_to": destination,
            },
        )

    assert (await add("0120-333-001", US_OFFICE)).status_code == 201
    assert (await add("0120-333-002", PREMIUM_US)).status_code == 422
    assert (await add("0120-333-003", IRIDIUM)).status_code == 422
    assert (await add("0120-333-004", "+44 20 7946 0000")).status_code == 422
    r = await client.post(
        "/api/pools", headers=headers, json={"site": "s1", "target": US_OFFICE, "label": "NY"}
    )
    assert r.status_code == 201, r.text


async def test_the_dashboard_refuses_such_business_numbers_and_flags_stored_ones(
    client: httpx.AsyncClient, db: Store, site: PoolSite
) -> None:
    async with db.write() as tx:
        await accounts.create_user(
            tx,
            email="member@example.com",
            password="correct-horse-42",
            role="member",
            advertiser_id=site.advertiser_id,
            now_ms=T0,
        )
    csrf = await login(client, "member@example.com", "correct-horse-42")
    url = f"/dashboard/settings/sites/{site.site_id}/targets"
    before = await _count(db, "targets")
    for number in (PREMIUM_JP, IRIDIUM, US_OFFICE, PERSONAL_GB):
        r = await client.post(url, data={"csrf": csrf, "number": number, "label": "x"})
        assert r.status_code == 422, (number, r.status_code)
        assert "never forwarded" in r.text or "JP only" in r.text
    assert await _count(db, "targets") == before
    ok = await client.post(url, data={"csrf": csrf, "number": "03-5555-1234", "label": "ok"})
    assert ok.status_code == 303
    # A number stored before the check keeps forwarding (a caller is always put through)
    # and is flagged where numbers are listed.
    async with db.write() as tx:
        await numbers.add_number(
            tx,
            advertiser_id=site.advertiser_id,
            number="+81120999000",
            forward_to="+81990123456",
            kind="source",
            site_id=site.site_id,
            source_label="old",
            now_ms=T0,
        )
    page = await client.get("/dashboard/settings/numbers")
    assert page.status_code == 200
    assert page.text.count('class="flag-destination"') == 1
    assert "premium-rate" in page.text


@pytest.mark.slow
def test_the_command_line_refuses_them_too(tmp_path: Path) -> None:
    url = demo_database(tmp_path)
    add = split("numbers add 0120-555-000 --site demo --kind source")
    refused = run_cli(*add, "--label", "Flyer", "--forward-to", IRIDIUM, database_url=url)
    assert refused.returncode == 1
    assert "forward_to" in refused.stderr and "belongs to no country" in refused.stderr
    pool = run_cli("pools", "create", "--site", "demo", "--target", PREMIUM_JP, database_url=url)
    assert pool.returncode == 1 and "premium-rate" in pool.stderr and "(target)" in pool.stderr
    allowed = run_cli(
        *add,
        *("--label", "NY ad", "--forward-to", US_OFFICE),
        database_url=url,
        CALLPATH_FORWARD_COUNTRIES="JP,US",
    )
    assert allowed.returncode == 0, allowed.stderr
