"""Migration 0041: transcripts written before it are in the store's full-text index, with
the same words the application writes, on both stores."""

from __future__ import annotations

from attribution import transcripts
from attribution.transcripts import search_calls
from backend.storage import open_database
from backend.storage.migrations import apply_migrations
from tests.storage.migrating import migrate_up_to, old_site

SAID = {
    1: "明日の午前に予約をお願いします",
    2: "i would like to cancel my appointment",
    3: "x",  # one character: its own gram
    4: "",
}


async def test_old_transcripts_are_indexed_as_the_application_indexes_them(
    database_url: str,
) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await migrate_up_to(db, 38)
        async with db.write() as tx:
            site = await old_site(tx)
            adv = await tx.fetchval("SELECT advertiser_id FROM sites WHERE id = :s", {"s": site})
            for n, text in SAID.items():
                call = await tx.fetchval(
                    "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id,"
                    " tracking_number, caller, started_ms, status, created_ms, updated_ms)"
                    " VALUES ('twilio', :p, :a, :s, '+815017000001', '+819012345678', :n,"
                    " 'completed', 0, 0) RETURNING id",
                    {"p": f"CA{n}", "a": adv, "s": site, "n": n},
                )
                # As 0037's code wrote them: the text and its bigram rows.
                await tx.execute(
                    "INSERT INTO call_transcripts (call_id, advertiser_id, normalised,"
                    " updated_ms) VALUES (:c, :a, :t, 0)",
                    {"c": call, "a": adv, "t": text},
                )
                await tx.executemany(
                    "INSERT INTO transcript_grams (gram, call_id) VALUES (:g, :c)",
                    [{"g": g, "c": call} for g in transcripts.grams(text)],
                )
        assert 41 in [m.version for m in await apply_migrations(db)]
        rows = await db.fetchall("SELECT call_id, normalised, grams FROM call_transcripts")
        by_text = {r["normalised"]: r for r in rows}
        for text in SAID.values():
            # The same words, whatever their order or repeats (the index's words are a set).
            written = set(by_text[text]["grams"].split())
            assert written == set(transcripts.gram_tokens(text)), text
        ids = {text: by_text[text]["call_id"] for text in SAID.values()}
        assert await search_calls(db, "予約を") == [ids[SAID[1]]]
        assert await search_calls(db, "Cancel My") == [ids[SAID[2]]]
        assert await search_calls(db, "x") == [ids[SAID[3]]]
        if db.dialect == "sqlite":
            await db.execute(
                "INSERT INTO transcript_fts (transcript_fts, rank) VALUES ('integrity-check', 1)"
            )
        tables = (
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if db.dialect == "sqlite"
            else "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        )
        assert "transcript_grams" not in {r["name"] for r in await db.fetchall(tables)}
    finally:
        await db.close()
