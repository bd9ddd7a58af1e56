"""``callpath conversions`` as an operator runs it: list, export an action, adjust it."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson

from tests.support.server import run_cli


def test_export_an_action_once_then_adjust_nothing(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    url = f"sqlite:///{db}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    with sqlite3.connect(db) as conn:
        site = conn.execute("SELECT id FROM sites WHERE site_key = 'demo'").fetchone()[0]
        conn.execute(
            "INSERT INTO conversion_actions (site_id, platform, name, qualified_only,"
            " created_ms, updated_ms) VALUES (?, 'google', '電話', 0, 1, 1)",
            (site,),
        )
        # A Google click and its call, as the telephony would have recorded them.
        conn.execute(
            "INSERT INTO calls (provider, provider_call_id, site_id, tracking_number,"
            " started_ms, status, created_ms, updated_ms, touch_source, touch_gclid)"
            " VALUES ('twilio', 'CA-cli-1', ?, '+815017000001', 1790000000000, 'completed',"
            " 1, 1, 'google', 'cli-gclid-1')",
            (site,),
        )
    listed = run_cli("conversions", "list", database_url=url)
    assert listed.returncode == 0, listed.stderr
    (action,) = orjson.loads(listed.stdout)
    assert (action["platform"], action["name"]) == ("google", "電話")
    out = tmp_path / "google.csv"
    args = (
        "conversions",
        "export",
        str(action["id"]),
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
    )
    first = run_cli(*args, "-o", str(out), database_url=url)
    assert first.returncode == 0, first.stderr
    assert re.match(r"1 rows, batch ", first.stderr)
    assert "cli-gclid-1,電話," in out.read_text(encoding="utf-8")
    again = run_cli(*args, database_url=url)
    assert again.stderr.startswith("0 rows")
    adjusted = run_cli("conversions", "adjust", str(action["id"]), database_url=url)
    assert adjusted.returncode == 0, adjusted.stderr
    assert adjusted.stderr.startswith("0 rows")
    assert "Adjustment Type" in adjusted.stdout
    # Without a direct upload configured, an upload run sends nothing and says so.
    upload = run_cli("conversions", "upload", str(action["id"]), database_url=url)
    assert upload.returncode == 0, upload.stderr
    assert orjson.loads(upload.stdout) == {"sent": 0, "failed": [], "skipped": {}}
    missing = run_cli("conversions", "adjust", "999", database_url=url)
    assert missing.returncode != 0 and "no conversion action 999" in missing.stderr
