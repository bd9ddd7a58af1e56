"""The CLI as a user runs it."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.support.server import run_cli


def test_demo_json_and_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = run_cli("demo", "--json", database_url=url)
    assert first.returncode == 0, first.stderr
    info = orjson.loads(first.stdout)
    assert info["site_key"] == "demo"
    assert info["login"]["email"] and info["api_token"].startswith("cp_")
    assert all(t["tracking_numbers"] for t in info["targets"])
    # Seeding again changes nothing and prints the same.
    assert orjson.loads(run_cli("demo", "--json", database_url=url).stdout) == info
    migrated = run_cli("migrate", database_url=url)
    assert migrated.returncode == 0 and "up to date" in migrated.stdout


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    r = run_cli("migrate", database_url="mysql://nope")
    assert r.returncode == 2 and "unsupported database URL" in r.stderr
