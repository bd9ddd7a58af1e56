"""Migration 0011 fills ``sessions.landing_page`` for sessions recorded before it, on both
stores: what a report then groups by is the page of the landing URL, click ids cut."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.sources import landing_page
from backend.storage import open_database
from backend.storage.migrations import Migration, all_migrations, apply_migrations, fill_tokens
from backend.storage.migrations.m0011_landing_page import _CUT, FILL
from pool.store import Store, Tx
from tests.storage.migrating import database_at, migrate_up_to, old_site
from tests.support import postgres as pg
from tests.support.server import run_cli

URLS = [
    "https://demo.example.jp/implant?gclid=Cj0KCQiA-test&utm_medium=cpc",
    "https://demo.example.jp/implant",
    "https://demo.example.jp?yclid=YSS.1",  # no path: the page is ".../"
    "https://demo.example.jp/price#plans?not-a-query",  # '#' before '?'
    "https://demo.example.jp/a?b=1#c",
    "https://demo.example.jp/医院/アクセス?utm_source=line",
    "/relative?gclid=x",
    "",
]


async def _old_sessions(tx: Tx) -> int:
    """A site (the schema before 0011) with one session landing on each of :data:`URLS`."""
    site = await old_site(tx)
    await tx.executemany(
        "INSERT INTO sessions (site_id, started_ms, last_seen_ms, landing_url)"
        " VALUES (:s, 0, 0, :u)",
        [{"s": site, "u": url} for url in URLS],
    )
    return site


async def test_sessions_recorded_before_the_column_get_their_landing_page(
    database_url: str,
) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await migrate_up_to(db, 10)
        async with db.write() as tx:
            await _old_sessions(tx)
        applied = [m.version for m in await apply_migrations(db)]
        assert applied[0] == 11
        rows = await db.fetchall("SELECT landing_url, landing_page FROM sessions ORDER BY id")
    finally:
        await db.close()
    assert [r["landing_url"] for r in rows] == URLS
    stored = [r["landing_page"] for r in rows]
    # Cut at the first '?' or '#' in SQL; the report's merge gives the page itself.
    assert stored[0] == stored[1] == "https://demo.example.jp/implant"
    assert stored[2] == "https://demo.example.jp"
    assert stored[3] == "https://demo.example.jp/price"
    assert stored[-1] == ""
    for url, page in zip(URLS, stored, strict=True):
        assert landing_page(page) == landing_page(url), url
        assert "?" not in page and "#" not in page


def _sqlite_cut(url: str) -> str:
    """The migration's backfill expression, run by SQLite on one URL."""
    expression = FILL.for_dialect("sqlite").set.split("landing_page = ", 1)[1]
    conn = sqlite3.connect(":memory:")
    try:
        (value,) = conn.execute(f"SELECT {expression} FROM (SELECT ? AS landing_url)", (url,))
        return str(value[0])
    finally:
        conn.close()


def _chars(excluded: str) -> st.SearchStrategy[str]:
    return st.characters(blacklist_categories=("Cs",), blacklist_characters=excluded)


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        lambda scheme, host, path, rest: f"{scheme}{host}{path}{rest}",
        st.sampled_from(["https://", "http://", "", "//"]),
        st.from_regex(r"[a-z0-9.\-]{0,20}(:[0-9]{1,5})?", fullmatch=True),
        st.text(alphabet=_chars("?#\x00"), max_size=60),
        st.text(alphabet=_chars("\x00"), max_size=60),
    )
)
def test_the_backfill_cut_gives_the_page_of_the_whole_url(url: str) -> None:
    # Whatever the URL, the report's merge of the stored cut is the page of the URL. (No
    # NUL: the public endpoints refuse it and PostgreSQL text cannot hold one. No lone
    # surrogate: it is not UTF-8, and a JSON body holding one is refused.)
    assert landing_page(_sqlite_cut(url)) == landing_page(url)


# 0011 as it landed: one unit holding `sessions` from the ALTER to the index. It now runs in
# steps (a batched backfill, the index built concurrently); every database must still end
# as this made it, and be recorded the same way.
LANDED_0011 = [
    "ALTER TABLE sessions ADD COLUMN landing_page TEXT NOT NULL DEFAULT ''",
    f"UPDATE sessions SET landing_page = substr({_CUT}, 1, 512) WHERE landing_url <> ''",
    "CREATE INDEX sessions_landing ON sessions (site_id, started_ms, landing_page)",
]
BULK = 12_000  # more than two batches


async def _before_0011(url: str) -> Store:
    """A database at migration 0010 holding sessions of every kind of landing URL."""
    db = await database_at(url, 10)
    async with db.write() as tx:
        site = await _old_sessions(tx)
        await tx.execute(
            "INSERT INTO sessions (site_id, started_ms, last_seen_ms, landing_url)"
            " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :bulk)"
            f" SELECT {site}, i, i, 'https://demo.example.jp/p' || (i % 7) || '?gclid=' || i"
            " FROM n",
            {"bulk": BULK},
        )
    return db


async def _end_state(db: Store) -> dict[str, Any]:
    if db.dialect == "sqlite":
        schema = await db.fetchall(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'sessions' ORDER BY name"
        )
    else:
        schema = await db.fetchall(
            "SELECT column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_name = 'sessions'"
            " ORDER BY ordinal_position"
        )
        schema += await db.fetchall(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions'"
            " ORDER BY indexname"
        )
    return {
        "schema": schema,
        "pages": await db.fetchall("SELECT id, landing_page FROM sessions ORDER BY id"),
        "recorded": await db.fetchall(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ),
    }


async def test_0011_in_steps_ends_as_the_landed_single_unit_did(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    if database_url.startswith("sqlite"):
        other_url, other_db = database_url.replace("callpath.db", "landed.db"), None
    else:
        other_db = pg.create_database()
        other_url = pg.database_url(other_db, request.getfixturevalue("pg_server"))
    landed, stepwise = await _before_0011(other_url), await _before_0011(database_url)
    try:
        async with landed.write() as tx:
            for statement in LANDED_0011:
                await tx.execute(fill_tokens(statement, landed.dialect))
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms)"
                " VALUES (11, 'landing_page', 0)"
            )
        batches: list[int] = []

        async def count(migration: Migration, done: int) -> None:
            batches.append(done)

        only_0011 = [m for m in all_migrations() if m.version == 11]
        assert await apply_migrations(stepwise, migrations=only_0011, on_batch=count) == only_0011
        assert len(batches) == -(-(BULK + len(URLS)) // FILL.batch) >= 3
        assert await _end_state(stepwise) == await _end_state(landed)
    finally:
        await landed.close()
        await stepwise.close()
        if other_db is not None:
            pg.drop_database(other_db)


@pytest.mark.stores("sqlite")
async def test_callpath_migrate_prints_where_0011_stands(database_url: str) -> None:
    await (await _before_0011(database_url)).close()
    done = await asyncio.to_thread(
        run_cli, "migrate", database_url=database_url, CALLPATH_LOG_LEVEL="info"
    )
    assert done.returncode == 0, done.stderr
    assert "applied 0011 landing_page" in done.stdout
    # `2026-12-05T22:00:52.982Z INFO callpath.migrations migration 0011 ...`
    lines = [
        line.split(" ", 3)[3]
        for line in done.stderr.splitlines()
        if line.split(" ", 3)[2:3] == ["callpath.migrations"]
    ]
    assert "migration 0011 landing_page: starting" in lines
    assert "migration 0011 landing_page: 5,000 / 12,008 sessions" in lines
    assert any(line.startswith("migration 0011 landing_page: applied in") for line in lines)
    for later in all_migrations():
        if later.version > 11:
            assert f"migration {later.label}: starting" in lines
