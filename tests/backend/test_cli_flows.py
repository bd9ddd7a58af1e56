"""``callpath flows``: set, show, history, rollback and remove a target's call flow."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from tests.support.server import demo_database, run_cli


def test_flows_from_the_command_line(tmp_path: Path) -> None:
    url = demo_database(tmp_path)
    target = str(
        sqlite3.connect(url.removeprefix("sqlite:///"))
        .execute("SELECT MIN(id) FROM targets")
        .fetchone()[0]
    )
    flow = {"start": "bye", "steps": {"bye": {"type": "hangup"}}}
    good = tmp_path / "flow.json"
    good.write_bytes(orjson.dumps(flow))
    done = run_cli("flows", "set", target, str(good), "--note", "night", database_url=url)
    assert done.returncode == 0, done.stderr
    assert "flow version 1 in force" in done.stdout
    shown = run_cli("flows", "show", target, database_url=url)
    assert orjson.loads(shown.stdout) == flow
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"start": "r", "steps": {"r": {"type": "ring"}}}))
    refused = run_cli("flows", "set", target, str(bad), database_url=url)
    assert refused.returncode == 2
    assert refused.stderr.startswith("flow refused: steps.r.destinations:")
    assert run_cli("flows", "remove", target, database_url=url).returncode == 0
    assert "no flow" in run_cli("flows", "show", target, database_url=url).stdout
    back = run_cli("flows", "rollback", target, "1", database_url=url)
    assert "version 1 in force again as version 3" in back.stdout
    history = run_cli("flows", "history", target, database_url=url).stdout.splitlines()
    assert [line.split()[0] for line in history] == ["3", "2", "1"]
    assert history[-1].endswith("cli  night")
    assert run_cli("flows", "show", "999999", database_url=url).returncode == 2
    # A flow for one tracking number, beside the target's own.
    number = (
        sqlite3.connect(url.removeprefix("sqlite:///"))
        .execute("SELECT number FROM tracking_numbers ORDER BY id LIMIT 1")
        .fetchone()[0]
    )
    menu = tmp_path / "night.json"
    menu.write_bytes(orjson.dumps({"start": "vm", "steps": {"vm": {"type": "voicemail"}}}))
    own = run_cli("flows", "set", target, str(menu), "--number", number, database_url=url)
    assert own.returncode == 0, own.stderr
    assert f"(number {number}): flow version 4 in force" in own.stdout
    shown = run_cli("flows", "show", target, "--number", number, database_url=url)
    assert orjson.loads(shown.stdout)["start"] == "vm"
    assert orjson.loads(run_cli("flows", "show", target, database_url=url).stdout) == flow
    history = run_cli("flows", "history", target, database_url=url).stdout.splitlines()
    assert f"number {number}" in history[0] and " target " in history[1]
    unknown = run_cli(
        "flows", "set", target, str(menu), "--number", "+815099999999", database_url=url
    )
    assert unknown.returncode == 2 and "not a tracking number" in unknown.stderr
    both = run_cli("flows", "show", target, "--number", number, "--source", "x", database_url=url)
    assert both.returncode == 2
