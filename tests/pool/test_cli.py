"""``callpath numbers`` and ``callpath pools`` as a person runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from shlex import split

import orjson
import pytest

from tests.support.server import demo_database, run_cli


@pytest.mark.slow
def test_numbers_and_pools_from_the_command_line(tmp_path: Path) -> None:
    url = demo_database(tmp_path)
    create = split("pools create --site demo --target 06-6123-4567 --label Osaka")
    made = run_cli(*create, database_url=url)
    assert made.returncode == 0, made.stderr
    assert "created pool 4" in made.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "number,kind,target,label\n"
        "050-5555-0001,pool,06-6123-4567,\n"
        "050-5555-0001,pool,06-6123-4567,\n"
        "0120-555-000,source,,Flyer\n",
        encoding="utf-8",
    )
    refused = run_cli("numbers", "import", str(bad), "--site", "demo", database_url=url)
    assert refused.returncode == 1
    assert "nothing was stored" in refused.stderr
    assert "row 3, number: +815055550001 is also on row 2" in refused.stderr
    assert "row 4, forward_to" in refused.stderr

    good = tmp_path / "good.csv"
    good.write_bytes(
        "number,kind,target,label\n"
        "050-5555-0001,pool,06-6123-4567,\n"
        "050-5555-0002,pool,06-6123-4567,\n"
        "0120-555-000,source,06-6123-4567,チラシ\n".encode("cp932")
    )
    stored = run_cli("numbers", "import", str(good), "--site", "demo", database_url=url)
    assert stored.returncode == 0, stored.stderr
    assert "stored 3 number(s)" in stored.stdout

    listed = run_cli("numbers", "list", "--site", "demo", "--json", database_url=url)
    rows = orjson.loads(listed.stdout)
    flyer = next(r for r in rows if r["kind"] == "source")
    assert flyer["label"] == "チラシ" and flyer["forward_to"] == "+81661234567"

    flyer_rule = "--kind param --key cp --value flyer --action number --number 0120-555-000"
    rule = run_cli(*split(f"pools rule --site demo {flyer_rule}"), database_url=url)
    assert rule.returncode == 0, rule.stderr
    rules = run_cli("pools", "rules", "--site", "demo", database_url=url)
    assert "cp=flyer" in rules.stdout and "+81120555000" in rules.stdout

    retired = run_cli("numbers", "retire", "050-5555-0002", database_url=url)
    assert retired.returncode == 0 and "retired" in retired.stdout

    status = run_cli("pools", "status", "--site", "demo", database_url=url)
    assert status.returncode == 0, status.stderr
    assert "pool 4 'Osaka' (target +81661234567)" in status.stdout
    assert "size 1, live 0 (0%)" in status.stdout


@pytest.mark.slow
def test_a_pool_for_another_advertisers_business_number(tmp_path: Path) -> None:
    # A portal's site key shared with another advertiser (issue #16): --advertiser.
    url = demo_database(tmp_path)
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (other,) = conn.execute(
            "INSERT INTO advertisers (name, created_ms) VALUES ('Clinic B', 0) RETURNING id"
        ).fetchone()
    made = run_cli(
        *split(f"pools create --site demo --target 06-6123-4567 --advertiser {other}"),
        database_url=url,
    )
    assert made.returncode == 0, made.stderr
    unknown = run_cli(
        *split("pools create --site demo --target 06-6123-4568 --advertiser 999999"),
        database_url=url,
    )
    assert unknown.returncode == 1 and "no advertiser 999999" in unknown.stderr
    with sqlite3.connect(path) as conn:
        owners = conn.execute(
            "SELECT number, advertiser_id FROM targets WHERE number LIKE '+8166123456%'"
        ).fetchall()
    assert owners == [("+81661234567", other)]  # the refused one left nothing behind
