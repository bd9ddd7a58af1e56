"""`callpath backup` of a live SQLite database under write load, and `callpath restore`."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.storage.migrations import all_migrations
from tests.support.browser import BROWSER_HEADERS
from tests.support.server import Server, run_cli
from tests.telephony.conftest import AUTH_TOKEN, call_params, sign

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
    return {t: len(rows) for t, rows in dump(path).items()}


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


class Load:
    """Visits (eight clients) and signed Twilio calls against a real server, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.visits = 0
        self.calls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _visit(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            r = await client.post(
                self.url + "/v1/session",
                content=b'{"site":"demo","url":"http://127.0.0.1/examples/?utm_source=b"}',
                headers={"content-type": "text/plain", **BROWSER_HEADERS},
            )
            if r.status_code != 200:
                self.errors.append(f"visit {r.status_code} {r.text[:200]}")
            self.visits += 1

    async def _call(self, client: httpx.AsyncClient) -> None:
        url = self.url + "/twilio/voice"
        for n in itertools.count():
            if self._stop.is_set():
                return
            params = call_params(sid=f"CA{n:032d}", caller=f"+8190{n % 10**8:08d}")
            r = await client.post(
                url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
            )
            if r.status_code != 200 or "<Dial" not in r.text:
                self.errors.append(f"call {r.status_code} {r.text[:200]}")
            self.calls += 1
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            await asyncio.gather(*[self._visit(client) for _ in range(8)], self._call(client))

    def start(self) -> Load:
        self._thread.start()
        return self

    def wait_for(self, visits: int, calls: int) -> None:
        deadline = time.monotonic() + 60
        while (self.visits < visits or self.calls < calls) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.errors, self.errors[:3]

    def halt(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def stop(self) -> None:
        self.halt()
        assert not self.errors, self.errors[:3]


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
