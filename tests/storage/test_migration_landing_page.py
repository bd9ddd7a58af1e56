"""Migration 0011 fills ``sessions.landing_page`` for sessions recorded before it, on both
stores: what a report then groups by is the page of the landing URL, click ids cut."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.sources import landing_page
from backend.storage import open_database
from backend.storage.migrations import all_migrations, apply_migrations
from backend.storage.migrations.m0011_landing_page import STATEMENTS
from pool.store import Store

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


async def _migrate_up_to(db: Store, version: int) -> None:
    for migration in all_migrations():
        if migration.version > version:
            break
        async with db.write() as tx:
            for statement in migration.sql(db.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, 0)",
                {"v": migration.version, "n": migration.name},
            )


async def test_sessions_recorded_before_the_column_get_their_landing_page(
    database_url: str,
) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
        )
        await _migrate_up_to(db, 10)
        async with db.write() as tx:
            adv = await tx.fetchval(
                "INSERT INTO advertisers (name, created_ms) VALUES ('a', 0) RETURNING id"
            )
            site = await tx.fetchval(
                "INSERT INTO sites (advertiser_id, site_key, name, created_ms)"
                " VALUES (:a, 'k', 'S', 0) RETURNING id",
                {"a": adv},
            )
            await tx.executemany(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms, landing_url)"
                " VALUES (:s, 0, 0, :u)",
                [{"s": site, "u": url} for url in URLS],
            )
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
    update = STATEMENTS[1].replace("{strpos}", "instr")
    expression = update.split("SET landing_page = ", 1)[1].split(" WHERE ", 1)[0]
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
