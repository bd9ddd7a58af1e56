"""`callpath backup` of a live SQLite database under write load, and `callpath restore`."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.storage.migrations import all_migrations
from tests.support.server import Server, run_cli
from tests.support.traffic import AUTH_TOKEN, Load

pytestmark = pytest.mark.e2e

# Tables that only grow under the load below (visits and calls are never deleted by it).
GROWING = ("sessions", "page_views", "calls")


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (SQLite's sequence counters included), in one snapshot."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }
    finally:
        conn.close()


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def seed_history(path: Path, visits: int) -> None:
    """Earlier visits, each with its page view, so that a backup has pages to copy while
    the server writes (one of a few dozen pages would be over before the next write)."""
    conn = sqlite3.connect(path)
    try:
        site_id = conn.execute("SELECT id FROM sites WHERE site_key = 'demo'").fetchone()[0]
        top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM sessions").fetchone()[0]
        ids = range(top + 1, top + 1 + visits)
        conn.executemany(
            "INSERT INTO sessions (id, site_id, started_ms, last_seen_ms, landing_url, keyword)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(i, site_id, i, i, f"https://shop.example/p/{i}", f"keyword {i % 97}") for i in ids],
        )
        conn.executemany(
            "INSERT INTO page_views (session_id, ts_ms, url) VALUES (?, ?, ?)",
            [(i, i, f"https://shop.example/p/{i}") for i in ids],
        )
        conn.commit()
    finally:
        conn.close()


def assert_sound(path: Path) -> None:
    """SQLite's integrity and foreign-key checks pass, every migration is recorded, and
    every visit has its page view (written in the visit's own transaction)."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        versions = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        assert versions == {m.version for m in all_migrations()}
        torn = conn.execute(
            "SELECT COUNT(*) FROM sessions s"
            " WHERE NOT EXISTS (SELECT 1 FROM page_views v WHERE v.session_id = s.id)"
        ).fetchone()[0]
        assert torn == 0
    finally:
        conn.close()


def backup_when_still(live: Path, out: Path, url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Back ``live`` up to ``out`` between two identical dumps of it (a server may still be
    finishing a write it acknowledged); the source as of the backup's moment."""
    for _ in range(20):
        before = dump(live)
        r = run_cli("backup", "--force", str(out), database_url=url)
        assert r.returncode == 0, r.stderr
        if dump(live) == before:
            return before
        time.sleep(0.2)
    raise AssertionError("the source never stood still")


def test_backup_under_write_load_restores_to_an_identical_checked_copy(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    url = f"sqlite:///{live}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    seed_history(live, 40_000)
    server = Server(url, env_extra={"CALLPATH_TWILIO_AUTH_TOKEN": AUTH_TOKEN}).start()
    load = Load(server.url)
    try:
        load.start()
        load.wait_for(visits=200, calls=3)
        # Backups while visits and calls keep being written.
        under_load = []
        for n in range(3):
            before = counts(live)
            out = tmp_path / f"load{n}.db"
            r = run_cli("backup", str(out), database_url=url)
            assert r.returncode == 0, r.stderr
            assert "integrity ok" in r.stdout
            after = counts(live)
            under_load.append((before, out, after))
        load.wait_for(visits=load.visits + 50, calls=load.calls + 1)
        load.stop()

        for before, out, after in under_load:
            # Only the backup file appears: no journal, no temporary file left beside it.
            assert not Path(f"{out}-wal").exists() and not Path(f"{out}-journal").exists()
            assert_sound(out)
            taken = counts(out)
            for table in GROWING:
                assert before[table] <= taken[table] <= after[table], table
        first, last = under_load[0][0], under_load[-1][2]
        assert all(first[t] < last[t] for t in GROWING), "no writes during the backups"
        assert not list(tmp_path.glob(".*.tmp"))

        # Writes stopped (the server still runs): a backup is the source, row for row.
        quiet = tmp_path / "quiet.db"
        source = backup_when_still(live, quiet, url)
        assert dump(quiet) == source
        assert_sound(quiet)

        # A backup taken under load restores into a new database, identical to it.
        fresh = tmp_path / "restored.db"
        r = run_cli("restore", str(under_load[1][1]), database_url=f"sqlite:///{fresh}")
        assert r.returncode == 0, r.stderr
        assert dump(fresh) == dump(under_load[1][1])
        assert_sound(fresh)

        # Restoring over the database the server has open is refused and changes nothing.
        r = run_cli("restore", str(under_load[0][1]), database_url=url)
        assert r.returncode == 2 and "running process" in r.stderr
        assert dump(live) == source
        assert not (tmp_path / "live.db.bak").exists()
    finally:
        load.halt()
        server.stop()

    # Stopped: the restore goes through, and keeps what it replaced as .bak.
    r = run_cli("restore", str(under_load[0][1]), database_url=url)
    assert r.returncode == 0, r.stderr
    assert dump(live) == dump(under_load[0][1])
    assert dump(tmp_path / "live.db.bak") == source
    # ... and the server starts on the restored file.
    again = Server(url).start()
    try:
        assert httpx.get(again.url + "/healthz").status_code == 200
    finally:
        again.stop()
