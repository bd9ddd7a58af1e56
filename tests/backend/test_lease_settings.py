"""Lease settings are range-checked where they are read (issue #21, found on the way)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from shlex import split

import pytest

from backend.settings import Settings
from tests.support.server import demo_database, run_cli


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("CALLPATH_LEASE_TTL_SECONDS", "10"),
        ("CALLPATH_LEASE_TTL_SECONDS", "90000"),
        ("CALLPATH_LEASE_GRACE_SECONDS", "-5"),
        ("CALLPATH_LEASE_COOLDOWN_SECONDS", "-1"),
        ("CALLPATH_LEASE_COOLDOWN_SECONDS", "700000"),
        ("CALLPATH_HEARTBEAT_SECONDS", "0"),
        ("CALLPATH_HEARTBEAT_SECONDS", "1800"),  # not shorter than the ttl: leases lapse
        ("CALLPATH_LATE_CALL_WINDOW_SECONDS", "-1"),
        ("CALLPATH_LEASE_SWEEP_SECONDS", "-60"),
    ],
)
def test_out_of_range_lease_settings_are_refused_naming_the_variable(env: str, value: str) -> None:
    with pytest.raises(ValueError, match=env):
        Settings.load(environ={env: value})


def test_settings_in_range_and_from_a_file(tmp_path: Path) -> None:
    ok = Settings.load(
        environ={
            "CALLPATH_LEASE_TTL_SECONDS": "60",
            "CALLPATH_LEASE_GRACE_SECONDS": "0",
            "CALLPATH_HEARTBEAT_SECONDS": "1",
            "CALLPATH_LATE_CALL_WINDOW_SECONDS": "0",
        }
    )
    assert (ok.lease_ttl_seconds, ok.lease_grace_seconds, ok.heartbeat_seconds) == (60, 0, 1)
    config = tmp_path / "c.toml"
    config.write_text("lease_grace_seconds = -5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lease_grace_seconds"):
        Settings.load(environ={}, config_file=config)


def test_demo_refuses_a_negative_grace_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    done = run_cli("demo", database_url=f"sqlite:///{path}", CALLPATH_LEASE_GRACE_SECONDS="-5")
    assert done.returncode != 0
    assert "CALLPATH_LEASE_GRACE_SECONDS" in done.stderr
    if path.exists():
        with sqlite3.connect(path) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "pools" in tables:
                assert conn.execute("SELECT COUNT(*) FROM pools").fetchone()[0] == 0


def test_pools_create_names_the_setting_a_short_ttl_came_from(tmp_path: Path) -> None:
    url = demo_database(tmp_path)
    create = split("pools create --site demo --target 06-6123-4567")
    made = run_cli(*create, database_url=url, CALLPATH_LEASE_TTL_SECONDS="10")
    assert made.returncode != 0
    assert "CALLPATH_LEASE_TTL_SECONDS" in made.stderr and "--ttl" not in made.stderr
    # A --ttl given on the command line is the one the message names.
    given = run_cli(*create, "--ttl", "5", database_url=url)
    assert given.returncode != 0 and "--ttl" in given.stderr
