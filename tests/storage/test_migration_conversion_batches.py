"""Migration 0021 lists the batches recorded before it (no file kept), on both stores."""

from __future__ import annotations

from backend.storage.migrations import apply_migrations
from tests.storage.migrating import database_at, old_site

_COLS = ("platform", "batch", "row_count", "created_ms", "content", "advertiser_id")


async def test_batches_recorded_before_get_a_row_without_a_file(database_url: str) -> None:
    db = await database_at(database_url, 20)
    try:
        async with db.write() as tx:
            site = await old_site(tx)
            for n in range(4):
                call = await tx.fetchval(
                    "INSERT INTO calls (provider, provider_call_id, site_id, tracking_number,"
                    " started_ms, created_ms, updated_ms)"
                    " VALUES ('twilio', :c, :s, '+815017000001', 5000, 0, 0) RETURNING id",
                    {"c": f"CA{n}", "s": site},
                )
                platform, batch = [
                    ("google", "b1"),
                    ("google", "b1"),
                    ("yahoo", "b2"),
                    ("ga4", "g"),
                ][n]
                await tx.execute(
                    "INSERT INTO conversion_ledger (platform, call_id, click_id, batch,"
                    " exported_ms) VALUES (:p, :c, 'x', :b, :t)",
                    {"p": platform, "c": call, "b": batch, "t": 100 + n},
                )
        assert 21 in [m.version for m in await apply_migrations(db)]
        rows = await db.fetchall(
            f"SELECT {', '.join(_COLS)} FROM conversion_batches ORDER BY batch"
        )
        # GA4 sends are not files; legacy batches are administrators' (no advertiser).
        assert [tuple(r[k] for k in _COLS) for r in rows] == [
            ("google", "b1", 2, 100, None, None),
            ("yahoo", "b2", 1, 102, None, None),
        ]
        consent = await db.fetchone(
            "SELECT consent_ad_user_data, consent_ad_personalization FROM ga4_settings"
        )
        assert consent is None
    finally:
        await db.close()
