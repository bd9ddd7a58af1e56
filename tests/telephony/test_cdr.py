"""``callpath calls import``: CDR rows become calls, matched like live ones, once each."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backend.cli import main
from backend.commands.calls import _Progress
from backend.demo import seed_demo
from backend.settings import Settings
from backend.storage import open_database
from pool import leases

TOKYO = ZoneInfo("Asia/Tokyo")
VISIT = datetime(2026, 5, 1, 10, 0, tzinfo=TOKYO)
VISIT_MS = int(VISIT.timestamp() * 1000)


def _seed(url: str) -> str:
    """The demo, plus one session holding a Tokyo tracking number from 10:00 JST."""

    async def work() -> str:
        db = await open_database(url)
        try:
            await seed_demo(db, Settings(database_url=url))
            async with db.write() as tx:
                session_id = await tx.fetchval(
                    "INSERT INTO sessions (site_id, started_ms, last_seen_ms, source, medium,"
                    " keyword) VALUES (1, :t, :t, 'google', 'cpc', 'implant') RETURNING id",
                    {"t": VISIT_MS},
                )
            pool_id = await db.fetchval("SELECT MIN(id) FROM pools")
            lease = await leases.acquire(
                db, pool_id=pool_id, session_id=session_id, now_ms=VISIT_MS
            )
            assert lease is not None
            return lease.number
        finally:
            await db.close()

    return asyncio.run(work())


def _rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT provider, provider_call_id, tracking_number, caller, status, talk_s,"
            " duration_s, started_ms, match_method FROM calls ORDER BY started_ms"
        ).fetchall()
    finally:
        conn.close()


def test_import_matches_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "cdr.db"
    url = f"sqlite:///{db_path}"
    leased = _seed(url)
    national = "0" + leased.removeprefix("+81")
    csv_file = tmp_path / "cdr.csv"
    csv_file.write_text(
        "CallSid,From,To,StartTime,Duration,Status\n"
        f"CDR1,090-1111-2222,{national},2026-05-01 10:05:00,75,completed\n"
        "CDR2,+819033334444,+815018000001,2026-05-01T11:00:00+09:00,0,no-answer\n"
        "CDR3,anonymous,+815018000002,1777600000,20,busy\n"
        "CDR4,+819055556666,not-a-number,2026-05-01 12:00:00,5,completed\n",
        encoding="utf-8",
    )
    args = [
        "--database",
        url,
        "calls",
        "import",
        str(csv_file),
        "--map",
        "id=CallSid,caller=From,number=To,start=StartTime,duration=Duration,status=Status",
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "imported 3 calls, 0 already known, 1 rows refused" in out.out
    assert "line 5: number" in out.err
    rows = _rows(db_path)
    assert len(rows) == 3
    first = next(r for r in rows if r[1] == "CDR1")
    assert first[2:5] == (leased, "+819011112222", "answered")
    assert first[7] == VISIT_MS + 5 * 60_000
    assert first[8] == "lease"  # matched like a live call
    assert {r[1]: r[4] for r in rows} == {"CDR1": "answered", "CDR2": "no-answer", "CDR3": "busy"}
    assert next(r for r in rows if r[1] == "CDR3")[3] == "anonymous"

    assert main(args) == 0
    assert "imported 0 calls, 3 already known, 1 rows refused" in capsys.readouterr().out
    assert _rows(db_path) == rows


def test_import_without_a_header_by_column_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "ast.db"
    url = f"sqlite:///{db_path}"
    _seed(url)
    # Asterisk Master.csv: accountcode, src, dst, dcontext, clid, channel, dstchannel,
    # lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid
    master = tmp_path / "Master.csv"
    master.write_text(
        '"","0312345000","05017000003","from-carrier","""Caller"" <0312345000>","PJSIP/c-1",'
        '"PJSIP/c-2","Dial","PJSIP/+81312345678@carrier,30","2026-05-02 09:00:00",'
        '"2026-05-02 09:00:05","2026-05-02 09:01:05",65,60,"ANSWERED","DOCUMENTATION",'
        '"1777680000.7"\n'
        '"","0312345001","05017000003","from-carrier","","PJSIP/c-3","","Dial","",'
        '"2026-05-02 09:10:00","","2026-05-02 09:10:30",30,0,"NO ANSWER","DOCUMENTATION",'
        '"1777680600.8"\n',
        encoding="utf-8",
    )
    assert (
        main(
            [
                "--database",
                url,
                "calls",
                "import",
                str(master),
                "--no-header",
                "--provider",
                "asterisk",
                "--map",
                "caller=2,number=3,start=10,duration=13,talk=14,status=15,id=17",
            ]
        )
        == 0
    )
    assert "imported 2 calls" in capsys.readouterr().out
    rows = _rows(db_path)
    assert [(r[0], r[1], r[4], r[5], r[6]) for r in rows] == [
        ("asterisk", "1777680000.7", "answered", 60, 65),
        ("asterisk", "1777680600.8", "no-answer", 0, 30),
    ]


def test_bad_mappings_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("a,b\n1,2\n", encoding="utf-8")
    for mapping in ("caller=a", "caller=a,number=b,start=c,colour=d", "caller"):
        assert main(["--database", url, "calls", "import", str(csv_file), "--map", mapping]) == 2
    assert "--map" in capsys.readouterr().err


def test_progress_is_plain_text_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _Progress(8)
    progress.enabled = True  # as on a terminal
    for done in range(1, 9):
        progress(done)
    progress.close()
    err = capsys.readouterr().err
    assert "\r[" in err and "8/8 rows" in err
