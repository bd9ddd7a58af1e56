"""Dashboard input that once gave 500s: ids past 64 bits, years past 9999, digits that are not
ASCII, a user moved to an advertiser that does not exist. Error pages carry the same
security headers as every other dashboard page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from backend.dashboard.routes import routes as dashboard_routes
from backend.security_headers import SECURITY_HEADERS
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded

HUGE_IDS = [str(2**64), str(2**63), "9" * 40]
BAD_DAYS = ["9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "２０２６-01-01"]


@pytest.fixture
async def admin(app: Starlette, seeded: Seeded) -> Any:
    # Exceptions become 500 answers, as a real server gives them, instead of test errors.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        csrf = await login(c, seeded.admin, PASSWORD)
        yield c, csrf


def _has_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)


async def test_ids_past_64_bits_are_not_found(admin: Any) -> None:
    client, csrf = admin
    id_routes = [r for r in dashboard_routes if isinstance(r, Route) and "{id:int}" in r.path]
    assert id_routes
    for route in id_routes:
        for method in sorted((route.methods or set()) - {"HEAD"}):
            for huge in HUGE_IDS:
                # A second id (a transcript rule's) is an ordinary one: the huge one 404s.
                url = route.path.replace("{id:int}", huge).replace("{rule:int}", "1")
                if method == "GET":
                    response = await client.get(url)
                else:
                    response = await client.post(url, data={"csrf": csrf})
                assert response.status_code == 404, (method, url, response.status_code)
                _has_headers(response)


async def test_dates_out_of_range_are_refused(admin: Any) -> None:
    client, _ = admin
    for page in (
        "/dashboard",
        "/dashboard/calls",
        "/dashboard/advertisers",
        "/dashboard/calls/export",
        "/dashboard/reports/export",
    ):
        for day in BAD_DAYS:
            for query in (f"from={day}&to={day}", f"to={day}", f"from={day}"):
                response = await client.get(f"{page}?{query}")
                assert response.status_code == 400, (page, query, response.status_code)
                _has_headers(response)


async def test_numbers_that_are_not_ascii_digits_are_refused(admin: Any, seeded: Seeded) -> None:
    client, csrf = admin
    for value in ("²", "١٢", "1" * 19, "-1"):
        for url in (
            f"/dashboard?site={value}",
            f"/dashboard/calls?bt={value}&bid=1",
            f"/dashboard/live/stream?after={value}",
        ):
            response = await client.get(url)
            assert response.status_code == 400, (url, response.status_code)
        posted = await client.post(
            "/dashboard/settings/numbers", data={"csrf": csrf, "pool": value, "number": "1"}
        )
        assert posted.status_code == 400, (value, posted.status_code)


async def test_a_user_moved_to_an_advertiser_that_does_not_exist(
    admin: Any, db: Any, seeded: Seeded
) -> None:
    client, csrf = admin
    for advertiser in ("999999", "9" * 18):
        response = await client.post(
            f"/dashboard/settings/users/{seeded.user_b}",
            data={"csrf": csrf, "role": "member", "advertiser": advertiser},
        )
        assert response.status_code == 422, (advertiser, response.status_code)
        _has_headers(response)
        created = await client.post(
            "/dashboard/settings/users",
            data={
                "csrf": csrf,
                "email": f"new{advertiser}@example.com",
                "password": "long-enough-1",
                "role": "member",
                "advertiser": advertiser,
            },
        )
        assert created.status_code in {404, 422}, (advertiser, created.status_code)
    row = await db.fetchone("SELECT advertiser_id FROM users WHERE id = :u", {"u": seeded.user_b})
    assert row is not None and row["advertiser_id"] == seeded.adv_b


async def test_error_pages_outside_the_dashboards_handlers_have_its_headers(
    app: Starlette, admin: Any
) -> None:
    client, _ = admin

    async def boom(request: Any) -> Any:
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/boom-for-test", boom))
    for method, url, status in (
        ("GET", "/no-such-page", 404),
        ("POST", "/dashboard", 405),
        ("GET", "/boom-for-test", 500),
    ):
        response = await client.request(method, url)
        assert response.status_code == status, url
        assert "text/html" in response.headers["content-type"]
        _has_headers(response)
