"""`callpath migrate-store`: everything in SQLite copied to PostgreSQL, verified."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from backend.storage import sqlite_path
from backend.storage.backup import user_tables
from backend.storage.postgres import pool_options
from tests.support.browser import BROWSER_HEADERS
from tests.support.server import Server, demo_database, run_cli
from tests.support.traffic import AUTH_TOKEN, Load

pytestmark = pytest.mark.e2e


def sqlite_rows(path: Path) -> dict[str, Counter[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        # Not the full-text index (transcript_fts): PostgreSQL indexes the copied rows.
        tables = [t for t in user_tables(conn) if t != "schema_migrations"]
        out = {}
        for t in tables:
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')]
            names = ", ".join(f'"{c}"' for c in cols)
            out[t] = Counter(conn.execute(f'SELECT {names} FROM "{t}"').fetchall())
        return out
    finally:
        conn.close()


async def pg_rows(url: str, like: dict[str, Counter[tuple[Any, ...]]], path: Path) -> Any:
    conn = await asyncpg.connect(pool_options(url)[0])
    lite = sqlite3.connect(path)
    try:
        out = {}
        for t in like:
            cols = [r[1] for r in lite.execute(f'PRAGMA table_info("{t}")')]
            names = ", ".join(f'"{c}"' for c in cols)
            out[t] = Counter(
                tuple(r.values()) for r in await conn.fetch(f'SELECT {names} FROM "{t}"')
            )
        return out
    finally:
        lite.close()
        await conn.close()


def test_migrate_store_copies_everything_and_postgres_carries_on(
    tmp_path: Path, pg_database_url: str
) -> None:
    url = demo_database(tmp_path)
    db = sqlite_path(url)
    # Real visits and calls: sessions, page views, leases, calls and their events.
    server = Server(url, env_extra={"CALLPATH_TWILIO_AUTH_TOKEN": AUTH_TOKEN}).start()
    load = Load(server.url).start()
    try:
        load.wait_for(visits=300, calls=5)
        load.stop()
    finally:
        load.halt()
        server.stop()
    source = sqlite_rows(db)
    for table in ("sessions", "page_views", "leases", "calls", "tracking_numbers", "users"):
        assert source[table], table

    r = run_cli("migrate-store", pg_database_url, database_url=url)
    assert r.returncode == 0, r.stderr
    assert "verified:" in r.stdout and "copied sessions:" in r.stdout
    copied = asyncio.run(pg_rows(pg_database_url, source, db))
    assert copied == source

    # Copying again onto the filled target is refused, and changes nothing there...
    r = run_cli("migrate-store", pg_database_url, database_url=url)
    assert r.returncode == 2 and "already holds rows" in r.stderr and "--force" in r.stderr
    assert asyncio.run(pg_rows(pg_database_url, source, db)) == source
    # ... unless forced: emptied, copied and verified once more.
    r = run_cli("migrate-store", "--force", pg_database_url, database_url=url)
    assert r.returncode == 0, r.stderr
    assert asyncio.run(pg_rows(pg_database_url, source, db)) == source

    # A server on PostgreSQL takes new visits: the id sequences start after the copied ids.
    top = max(row[0] for row in source["sessions"])
    pg_server = Server(pg_database_url).start()
    try:
        with httpx.Client(base_url=pg_server.url, timeout=10) as client:
            for _ in range(3):
                r = client.post(
                    "/v1/session",
                    content=b'{"site":"demo","url":"http://127.0.0.1/examples/"}',
                    headers={"content-type": "text/plain", **BROWSER_HEADERS},
                )
                assert r.status_code == 200, r.text
    finally:
        pg_server.stop()
    after = asyncio.run(pg_rows(pg_database_url, source, db))
    new_ids = {row[0] for row in after["sessions"]} - {row[0] for row in source["sessions"]}
    assert len(new_ids) == 3 and min(new_ids) > top


def test_migrate_store_refuses_a_sqlite_target(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    r = run_cli("migrate-store", f"sqlite:///{tmp_path / 'b.db'}", database_url=url)
    assert r.returncode == 2 and "postgresql://" in r.stderr


def test_migrate_store_needs_the_sqlite_file(tmp_path: Path, pg_database_url: str) -> None:
    missing = tmp_path / "typo.db"
    r = run_cli("migrate-store", pg_database_url, database_url=f"sqlite:///{missing}")
    assert r.returncode == 2 and "no such file" in r.stderr
    assert not missing.exists()


def test_migrate_store_copies_text_postgresql_cannot_hold_without_its_nul(
    tmp_path: Path, pg_database_url: str
) -> None:
    # Before control characters were kept out of query values, SQLite stored a %00 in
    # a keyword as it came; PostgreSQL's text cannot hold that character at all.
    url = demo_database(tmp_path)
    db = sqlite_path(url)
    conn = sqlite3.connect(db)
    try:
        site_id = conn.execute("SELECT id FROM sites").fetchone()[0]
        conn.execute(
            "INSERT INTO sessions (site_id, started_ms, last_seen_ms, keyword) VALUES (?, 1, 1, ?)",
            (site_id, "shoes\x00 sale"),
        )
        conn.commit()
    finally:
        conn.close()
    r = run_cli("migrate-store", pg_database_url, database_url=url)
    assert r.returncode == 0, r.stderr
    assert "sessions: 1 rows, 1 text values without their NUL character" in r.stdout

    async def stored() -> list[str]:
        pg = await asyncpg.connect(pool_options(pg_database_url)[0])
        try:
            return [r[0] for r in await pg.fetch("SELECT keyword FROM sessions")]
        finally:
            await pg.close()

    assert asyncio.run(stored()) == ["shoes sale"]
