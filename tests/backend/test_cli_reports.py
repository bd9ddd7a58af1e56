"""``callpath reports``: the reports' daily roll-ups from the command line."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from tests.support.server import run_cli


def test_reports_status_rebuild_and_refresh(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    # Visits of the last days (the demo's are of today, which is never rolled up).
    now = int(time.time() * 1000)
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.executemany(
            "INSERT INTO sessions (site_id, started_ms, last_seen_ms, channel)"
            " VALUES ((SELECT MIN(id) FROM sites), ?, ?, 'organic')",
            [(now - d * 86_400_000, now - d * 86_400_000) for d in (2, 3, 5)],
        )
    before = run_cli("reports", "status", database_url=url)
    assert before.returncode == 0, before.stderr
    found = re.search(
        r"rolled up: 0 site-days; marked changed: 0; not rolled up yet: (\d+)", before.stdout
    )
    assert found and int(found.group(1)) > 0, before.stdout
    todo = int(found.group(1))

    done = run_cli("reports", "rebuild", database_url=url)
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^{todo} site-days rolled up in [\d.]+ s; 0 left$", done.stdout.strip())
    after = run_cli("reports", "status", database_url=url)
    assert f"rolled up: {todo} site-days; marked changed: 0; not rolled up yet: 0" in after.stdout

    again = run_cli("reports", "refresh", database_url=url)
    assert again.stdout.startswith("0 site-days rolled up"), again.stdout

    missing = run_cli("reports", "rebuild", "--site", "999", database_url=url)
    assert missing.returncode == 2
    assert "no site has the id 999" in missing.stderr
