"""The dashboard shows a call with the touch that led to it, and the carrier's call id,
even after the visitor's session moved on to a later ad click (issue #23, 1 and 7)."""

from __future__ import annotations

import httpx

from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import KEYWORD_A, PASSWORD, Seeded


async def test_the_call_log_and_page_keep_the_calls_own_touch(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    call_id = seeded.calls_a[0]
    session_id = await db.fetchval("SELECT session_id FROM calls WHERE id = :c", {"c": call_id})
    sid = await db.fetchval("SELECT provider_call_id FROM calls WHERE id = :c", {"c": call_id})
    # The same visitor comes back through a Yahoo! ad: the session's touch moves.
    await db.execute(
        "UPDATE sessions SET source = 'yahoo', keyword = 'later keyword', gclid = '',"
        " yclid = 'YSS.later-click', touches = touches + 1 WHERE id = :s",
        {"s": session_id},
    )
    await login(client, seeded.member_a, PASSWORD)
    drill = await client.get("/dashboard/calls", params={"by": "keyword", "value": KEYWORD_A})
    assert f'href="/dashboard/calls/{call_id}"' in drill.text
    later = await client.get("/dashboard/calls", params={"by": "keyword", "value": "later keyword"})
    assert f'href="/dashboard/calls/{call_id}"' not in later.text
    page = await client.get(f"/dashboard/calls/{call_id}")
    assert "Cj0KCQiA-test-gclid" in page.text and "YSS.later-click" not in page.text
    assert KEYWORD_A in page.text and "later keyword" not in page.text
    assert sid and sid in page.text and 'id="carrier-call-id"' in page.text
    report = await client.get("/dashboard?by=keyword&sort=key&dir=asc")
    assert KEYWORD_A in report.text
