"""The CLI as a user runs it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
import orjson

from backend.cli import build_parser
from tests.support.server import Server, run_cli


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


def _workers(pid: int) -> set[int]:
    """The worker processes of a server: its children that multiprocessing spawned to
    run a worker (not its resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.add(int(child))
    return found


def test_serve_workers_runs_that_many_processes_on_one_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'callpath.db'}"
    server = Server(url, args=["--workers", "2"]).start(timeout=60)
    try:
        assert server.proc is not None
        deadline = time.monotonic() + 30
        while len(_workers(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_workers(server.proc.pid)) == 2
        # Each worker opened the database (migrated once, up front, by the parent).
        with httpx.Client(base_url=server.url) as client:
            for _ in range(10):
                assert client.get("/healthz").status_code == 200
    finally:
        server.stop()


def _subcommands(
    parser: argparse.ArgumentParser, path: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((f"{path} {name}", child))
                found.extend(_subcommands(child, f"{path} {name}"))
    return found


def test_every_subcommand_help_has_a_description() -> None:
    # `callpath flows --help` printed only its usage and actions: a subcommand's --help
    # says what it does, as the top-level list does.
    commands = _subcommands(build_parser(), "callpath")
    assert len(commands) > 40
    assert [path for path, p in commands if not p.description] == []
    r = run_cli("flows", "--help", database_url="sqlite:///unused.db")
    assert r.returncode == 0 and "Call flows of business numbers (targets)." in r.stdout
