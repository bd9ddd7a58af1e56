"""Migration 0029: the reports' covering index holds the match type, on both stores."""

from __future__ import annotations

from backend.storage.migrations import apply_migrations
from tests.storage.migrating import database_at, old_site

_INDEXES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'",
    "postgresql": "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'sessions'",
}
# The sessions query of a keyword × source × match type report (attribution.report_dimensions).
_GROUPING = (
    "SELECT s.keyword, s.source, s.match_type, COUNT(*) FROM sessions s"
    " WHERE s.site_id IN (SELECT id FROM sites) AND s.started_ms >= 0 AND s.started_ms < 10"
    " GROUP BY s.keyword, s.source, s.match_type"
)


async def test_the_report_index_covers_the_match_type(database_url: str) -> None:
    db = await database_at(database_url, 27)
    try:
        async with db.write() as tx:
            site = await old_site(tx)
            await tx.execute(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms, keyword, match_type)"
                " VALUES (:s, 5, 5, 'implant', 'exact')",
                {"s": site},
            )
        names = {r["name"] for r in await db.fetchall(_INDEXES[db.dialect])}
        assert "sessions_report" in names and "sessions_report_mt" not in names
        assert 29 in [m.version for m in await apply_migrations(db)]
        names = {r["name"] for r in await db.fetchall(_INDEXES[db.dialect])}
        assert "sessions_report_mt" in names and "sessions_report" not in names
        rows = await db.fetchall(_GROUPING)
        assert [tuple(r.values()) for r in rows] == [("implant", "", "exact", 1)]
        if db.dialect == "sqlite":
            plan = " ".join(
                str(r["detail"]) for r in await db.fetchall("EXPLAIN QUERY PLAN " + _GROUPING)
            )
            assert "COVERING INDEX sessions_report_mt" in plan, plan
    finally:
        await db.close()
