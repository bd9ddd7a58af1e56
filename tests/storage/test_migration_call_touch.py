"""Migration 0018 freezes, on calls recorded before it, their session's current touch
(the best there is), on both stores."""

from __future__ import annotations

import logging

import pytest

from backend.storage import migrations
from backend.storage.migrations import apply_migrations
from tests.storage.migrating import database_at, old_site


async def test_calls_recorded_before_the_columns_get_their_sessions_touch(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # One call per batch: every batch is its own unit of work, and progress is logged.
    monkeypatch.setattr(migrations, "BACKFILL_BATCH", 1)
    caplog.set_level(logging.INFO, logger="callpath.migrations")
    db = await database_at(database_url, 17)
    try:
        async with db.write() as tx:
            site = await old_site(tx)
            one_touch = await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms, channel, source,"
                " campaign, keyword, gclid, landing_url, landing_page, referrer, touches)"
                " VALUES (:s, 1000, 2000, 'paid_search', 'google', 'implant', '歯医者',"
                " 'G-1', 'https://x.example/?gclid=G-1', 'https://x.example/',"
                " 'https://www.google.com/', 1) RETURNING id",
                {"s": site},
            )
            two_touches = await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms, source, yclid,"
                " touches) VALUES (:s, 3000, 9000, 'yahoo', 'YSS.2', 2) RETURNING id",
                {"s": site},
            )
            for n, session in enumerate((one_touch, two_touches, None)):
                await tx.execute(
                    "INSERT INTO calls (provider, provider_call_id, site_id, tracking_number,"
                    " started_ms, session_id, created_ms, updated_ms)"
                    " VALUES ('twilio', :c, :s, '+815017000001', 5000, :sess, 0, 0)",
                    {"c": f"CA{n}", "s": site, "sess": session},
                )
        applied = [m.version for m in await apply_migrations(db)]
        assert 18 in applied
        progress = await db.fetchone(
            "SELECT done_id, end_id FROM schema_backfills WHERE version = 18"
        )
        assert progress is not None and progress["done_id"] == progress["end_id"] == 3
        assert "migration 0018 call_touch: filled calls ids 3 of 3" in caplog.text
        # Nothing is left to do the next time; a call recorded since is never refilled.
        await db.execute("UPDATE calls SET touch_source = 'frozen' WHERE id = 3")
        assert await migrations.run_backfills(db) == 0
        assert await db.fetchval("SELECT touch_source FROM calls WHERE id = 3") == "frozen"
        await db.execute("UPDATE calls SET touch_source = '' WHERE id = 3")
        rows = await db.fetchall(
            "SELECT touch_channel, touch_source, touch_campaign, touch_keyword, touch_gclid,"
            " touch_yclid, touch_landing_url, touch_landing_page, touch_referrer, touch_ms"
            " FROM calls ORDER BY id"
        )
    finally:
        await db.close()
    assert rows[0] == {
        "touch_channel": "paid_search",
        "touch_source": "google",
        "touch_campaign": "implant",
        "touch_keyword": "歯医者",
        "touch_gclid": "G-1",
        "touch_yclid": "",
        "touch_landing_url": "https://x.example/?gclid=G-1",
        "touch_landing_page": "https://x.example/",
        "touch_referrer": "https://www.google.com/",
        "touch_ms": 1000,  # one touch: it happened when the session started
    }
    assert (rows[1]["touch_source"], rows[1]["touch_yclid"], rows[1]["touch_ms"]) == (
        "yahoo",
        "YSS.2",
        None,  # a later touch at an unknown time
    )
    assert rows[2]["touch_source"] == "" and rows[2]["touch_ms"] is None
