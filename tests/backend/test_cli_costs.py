"""``callpath costs`` as an ad manager runs it: import, list, report; a bad file refused."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.attribution import cost_files
from tests.support.server import run_cli


def test_costs_import_list_and_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    report = tmp_path / "yahoo-keywords.csv"
    report.write_bytes(cost_files.yahoo_csv())
    done = run_cli(
        "costs", "import", "--platform", "yahoo", "--advertiser", "1", str(report), database_url=url
    )
    assert done.returncode == 0, done.stderr
    assert "imported 2 rows of yahoo cost (2026-10-05 to 2026-10-06, 5,500" in done.stdout
    assert "read as cp932" in done.stdout
    listed = orjson.loads(run_cli("costs", "list", "--json", database_url=url).stdout)
    assert [(i["platform"], i["rows"], i["filename"]) for i in listed] == [
        ("yahoo", 2, "yahoo-keywords.csv")
    ]
    shown = run_cli(
        "costs",
        "report",
        "--start",
        "2026-10-01",
        "--end",
        "2026-10-31",
        "--level",
        "source",
        "--json",
        database_url=url,
    )
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["total"]["cost"] == 5_500


def test_a_bad_file_prints_its_rows_and_imports_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("Day,Keyword,Cost\n2026-10-01,a,abc\n", encoding="utf-8")
    refused = run_cli(
        "costs", "import", "--platform", "google", "--advertiser", "1", str(bad), database_url=url
    )
    assert refused.returncode == 1
    assert "row 2, cost" in refused.stderr
    assert orjson.loads(run_cli("costs", "list", "--json", database_url=url).stdout) == []
