"""What `callpath backup` and `callpath restore` refuse, and how an older backup comes in."""

from __future__ import annotations

import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from backend.storage.migrations import all_migrations
from tests.support.server import run_cli


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A backup of the demo's database."""
    url = f"sqlite:///{tmp_path / 'src.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    out = tmp_path / "good.db"
    r = run_cli("backup", str(out), database_url=url)
    assert r.returncode == 0, r.stderr
    return out


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _write(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def test_backup_refuses_to_overwrite_without_force(tmp_path: Path, good: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    good.write_bytes(b"keep me")
    r = run_cli("backup", str(good), database_url=url)
    assert r.returncode == 2 and "--force" in r.stderr
    assert good.read_bytes() == b"keep me"
    assert run_cli("backup", "--force", str(good), database_url=url).returncode == 0
    assert _rows(good, "PRAGMA integrity_check") == [("ok",)]


def test_backup_of_postgresql_names_pg_dump(tmp_path: Path) -> None:
    url = "postgresql://callpath:s3cret@db.internal:5432/callpath?pool_max=20&sslmode=require"
    r = run_cli("backup", str(tmp_path / "x.dump"), database_url=url)
    assert r.returncode == 2
    # The exact command, without callpath's own URL options, and never the password.
    assert (
        f"pg_dump --format=custom --file={tmp_path / 'x.dump'}"
        " 'postgresql://callpath@db.internal:5432/callpath?sslmode=require'"
    ) in r.stderr
    assert "s3cret" not in r.stderr
    assert not (tmp_path / "x.dump").exists()


def test_restore_refuses_a_backup_from_a_newer_callpath(tmp_path: Path, good: Path) -> None:
    _write(good, "INSERT INTO schema_migrations VALUES (9999, 'from_the_future', 0)")
    target = tmp_path / "target.db"
    r = run_cli("restore", str(good), database_url=f"sqlite:///{target}")
    assert r.returncode == 2 and "newer callpath" in r.stderr and "9999" in r.stderr
    assert not target.exists()


def test_restore_refuses_a_damaged_backup(tmp_path: Path, good: Path) -> None:
    target = tmp_path / "target.db"
    target_url = f"sqlite:///{target}"
    assert run_cli("demo", "--json", database_url=target_url).returncode == 0
    before = target.read_bytes()
    # Scribble over the middle of the file (table pages; the header stays valid).
    data = bytearray(good.read_bytes())
    page = 4096
    data[3 * page : 6 * page] = b"\xa5" * (3 * page)
    good.write_bytes(bytes(data))
    r = run_cli("restore", str(good), database_url=target_url)
    assert r.returncode == 2 and "cannot be restored" in r.stderr
    assert "integrity check failed" in r.stderr or "malformed" in r.stderr
    assert target.read_bytes() == before and not Path(f"{target}.bak").exists()


def test_restore_refuses_broken_foreign_keys(tmp_path: Path, good: Path) -> None:
    _write(
        good,
        "PRAGMA foreign_keys = OFF",
        "INSERT INTO page_views (session_id, ts_ms, url) VALUES (987654, 0, 'x')",
    )
    r = run_cli("restore", str(good), database_url=f"sqlite:///{tmp_path / 'target.db'}")
    assert r.returncode == 2 and "foreign key" in r.stderr


def test_restore_refuses_what_is_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    r = run_cli("restore", str(junk), database_url=f"sqlite:///{tmp_path / 'target.db'}")
    assert r.returncode == 2 and "not an SQLite database" in r.stderr
    r = run_cli("restore", str(tmp_path / "absent.db"), database_url=f"sqlite:///{junk}")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_restore_migrates_a_backup_from_an_older_callpath(tmp_path: Path) -> None:
    # A database as the previous release left it: every migration but the newest.
    older = tmp_path / "older.db"
    *earlier, newest = all_migrations()
    conn = sqlite3.connect(older, isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
        )
        for m in earlier:
            for statement in m.sql("sqlite"):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (m.version, m.name))
    finally:
        conn.close()
    target = tmp_path / "target.db"
    r = run_cli("restore", str(older), database_url=f"sqlite:///{target}")
    assert r.returncode == 0, r.stderr
    assert f"migrated the backup: {newest.version:04d}" in r.stdout
    versions = [v for (v,) in _rows(target, "SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in all_migrations()]
    assert _rows(target, "PRAGMA integrity_check") == [("ok",)]
    # The backup itself is left as it was.
    assert (newest.version,) not in _rows(older, "SELECT version FROM schema_migrations")


def test_the_printed_pg_dump_command_backs_up_postgresql(
    tmp_path: Path, pg_database_url: str
) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    assert run_cli("demo", "--json", database_url=pg_database_url).returncode == 0
    out = tmp_path / "callpath.dump"
    r = run_cli("backup", str(out), database_url=pg_database_url)
    assert r.returncode == 2 and not out.exists()
    (command,) = [line.strip() for line in r.stderr.splitlines() if "pg_dump " in line]
    done = subprocess.run(
        shlex.split(command), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        ["pg_restore", "--list", str(out)], capture_output=True, text=True, timeout=60, check=True
    )
    for table in ("sites", "tracking_numbers", "sessions", "calls", "schema_migrations"):
        assert f"TABLE DATA public {table} " in listed.stdout, table
