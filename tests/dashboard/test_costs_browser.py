"""Importing a cost report in Chromium: the form sends the file itself and shows progress;
without script it posts as any other form."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.attribution import cost_files
from tests.dashboard.seed import PASSWORD, Seeded
from tests.support.dashboard_pages import sign_in_context
from tests.support.server import Server

pytestmark = pytest.mark.e2e


def _imports(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path, timeout=10) as conn:
        return conn.execute(
            "SELECT platform, filename, rows FROM ad_cost_imports ORDER BY id"
        ).fetchall()


@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_a_member_imports_a_report_in_the_browser(
    dash_server: Server, browser: Any, tmp_path: Path, script: bool
) -> None:
    seeded: Seeded = dash_server.seeded  # type: ignore[attr-defined]
    report = tmp_path / "yahoo-keywords.csv"
    report.write_bytes(cost_files.yahoo_csv())
    before = _imports(seeded.path)
    context = sign_in_context(
        browser, dash_server, seeded.member_a, PASSWORD, java_script_enabled=script
    )
    try:
        page = context.new_page()
        page.goto(dash_server.url + "/dashboard/costs?from=2026-10-01&to=2026-10-31&by=source")
        page.select_option("#cost-form select[name=platform]", "yahoo")
        page.set_input_files("#cost-form input[type=file]", str(report))
        page.click("#cost-form button[type=submit]")
        page.wait_for_url("**/dashboard/costs?imported=*")
        added = _imports(seeded.path)[len(before) :]
        # The script sends the form itself and names the file (a plain post cannot).
        name = "yahoo-keywords.csv" if script else ""
        assert added == [("yahoo", name, 2)]
        assert page.locator("#cost-imports tbody tr").first.is_visible()
        assert "2026-10-05" in page.locator("#cost-imports").inner_text()
    finally:
        context.close()
