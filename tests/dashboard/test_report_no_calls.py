"""The reports page with visits but no calls yet (a new install's first day)."""

from __future__ import annotations

from typing import Any

import httpx

from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import add_session


async def test_sources_card_does_not_deny_the_sessions_it_counts(
    client: httpx.AsyncClient, demo: dict[str, Any], db: Store
) -> None:
    site_id = await db.fetchval("SELECT id FROM sites WHERE site_key = :k", {"k": demo["site_key"]})
    async with db.write() as conn:
        await add_session(conn, site_id, now_ms(), source="google", medium="organic")
    await login(client, demo["login"]["email"], demo["login"]["password"])
    page = await client.get("/dashboard")
    assert page.status_code == 200
    # One session is counted in the tiles and the table; the calls-by-source card has no
    # calls to draw and must say just that, not "no sessions".
    assert "No sessions or calls in this range." not in page.text
    assert "No calls in this range." in page.text
