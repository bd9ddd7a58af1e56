"""Issue #23, defects 2, 5 and 7: Yahoo! display clicks stay out of the search ads file,
absent values are null in NDJSON (unknown durations too), and the carrier's call id is
in the paths export and the API."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import orjson

from attribution import conversions as conv
from attribution.exports import ExportFilter, stream_paths
from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms

NOW = jst_ms(2026, 11, 20, 12, 0)
NOV = {"start_ms": jst_ms(2026, 11, 1), "end_ms": jst_ms(2026, 12, 1)}
DISPLAY_YCLID = "YJAD.1600000001.display-click"


async def _paths(db: SQLiteDatabase, **kw: object) -> bytes:
    flt = ExportFilter(NOV["start_ms"], NOV["end_ms"])
    return b"".join([c async for c in stream_paths(db, flt, **kw)])  # type: ignore[arg-type]


async def _ndjson_by_call(db: SQLiteDatabase) -> dict[int, dict[str, Any]]:
    """The NDJSON path export's rows, by call id."""
    lines = (await _paths(db, fmt="ndjson")).splitlines()
    return {r["call_id"]: r for r in map(orjson.loads, lines)}


async def test_yahoo_display_clicks_are_not_in_the_search_ads_file(
    db: SQLiteDatabase, world: World
) -> None:
    session = await world.add_session(
        db, jst_ms(2026, 11, 14, 9, 0), channel="display", source="yahoo", yclid=DISPLAY_YCLID
    )
    display_call = await world.add_call(db, jst_ms(2026, 11, 14, 9, 5), session_id=session)
    f = await conv.export_conversions(db, platform="yahoo", now_ms=NOW, **NOV)
    text = f.content.decode("cp932")
    assert DISPLAY_YCLID not in text
    assert "YSS.1000000001.EAIaIQ-test" in text  # the search click is still there
    ledger = await db.fetchval(
        "SELECT COUNT(*) FROM conversion_ledger WHERE call_id = :c", {"c": display_call}
    )
    assert ledger == 0  # not recorded as sent either: a display upload can still take it
    # Lower-case spellings are the same display click.
    await db.execute(
        "UPDATE calls SET touch_yclid = 'yjad.1600000001.x' WHERE id = :c", {"c": display_call}
    )
    again = await conv.export_conversions(db, platform="yahoo", now_ms=NOW, **NOV)
    assert again.count == 0


async def test_ndjson_writes_null_for_absent_values_and_unknown_durations(
    db: SQLiteDatabase, world: World
) -> None:
    ringing = await world.add_call(
        db, jst_ms(2026, 11, 15, 9, 0), status="ringing", duration_s=0, talk_s=0
    )
    rows = await _ndjson_by_call(db)
    unmatched = rows[world.calls["unmatched"]]
    for key in ("session_started_at", "source", "campaign", "gclid", "landing_url", "device"):
        assert unmatched[key] is None, key
    assert unmatched["session_id"] is None
    google = rows[world.calls["google"]]
    assert google["gclid"] == "Cj0KCQ-test-gclid" and google["yclid"] is None
    assert (google["duration_s"], google["talk_s"]) == (95, 80)
    # Still ringing: neither duration nor talk time is known yet (not 0).
    assert (rows[ringing]["duration_s"], rows[ringing]["talk_s"]) == (None, None)
    long_rows = [
        orjson.loads(line) for line in (await _paths(db, fmt="ndjson", form="long")).splitlines()
    ]
    (no_pages,) = [r for r in long_rows if r["call_id"] == ringing]
    assert [no_pages[k] for k in ("step", "viewed_at", "url", "title")] == [None] * 4
    # CSV has no null: an empty field.
    csv_rows = list(csv.DictReader(io.StringIO((await _paths(db)).decode())))
    (row,) = [r for r in csv_rows if r["call_id"] == str(ringing)]
    assert (row["duration_s"], row["talk_s"], row["source"]) == ("", "", "")


async def test_a_busy_call_has_a_known_talk_time_of_zero(db: SQLiteDatabase, world: World) -> None:
    busy = await world.add_call(
        db,
        jst_ms(2026, 11, 15, 10, 0),
        status="busy",
        duration_s=12,
        talk_s=0,
        ended_ms=jst_ms(2026, 11, 15, 10, 0, 12),
    )
    rows = await _ndjson_by_call(db)
    assert (rows[busy]["duration_s"], rows[busy]["talk_s"]) == (12, 0)


async def test_the_carrier_call_id_is_in_the_export_and_the_api(
    db: SQLiteDatabase, world: World, client: httpx.AsyncClient
) -> None:
    sid = await db.fetchval(
        "SELECT provider_call_id FROM calls WHERE id = :c", {"c": world.calls["google"]}
    )
    assert sid.startswith("CA")
    csv_rows = list(csv.DictReader(io.StringIO((await _paths(db)).decode())))
    (row,) = [r for r in csv_rows if r["call_id"] == str(world.calls["google"])]
    assert row["provider_call_id"] == sid and row["provider"] == "twilio"
    ndjson = {
        r["call_id"]: r for r in map(orjson.loads, (await _paths(db, fmt="ndjson")).splitlines())
    }
    assert ndjson[world.calls["google"]]["provider_call_id"] == sid
    r = await client.get(f"/api/calls/{world.calls['google']}", headers=world.auth())
    assert r.status_code == 200 and r.json()["provider_call_id"] == sid
    r = await client.get("/api/calls?start=2026-11-01&end=2026-11-30", headers=world.auth())
    assert r.status_code == 200
    listed = {c["id"]: c for c in r.json()["data"]}
    assert listed[world.calls["google"]]["provider_call_id"] == sid
    assert listed[world.calls["google"]]["touch"]["gclid"] == "Cj0KCQ-test-gclid"
