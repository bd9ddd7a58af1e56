"""The fast paths export writes what the writer it replaced wrote, byte for byte.

``export_reference.py`` is that writer, unchanged. A seeded set of calls with every case
the export knows (formula-looking cells in every text column, Japanese and characters
Shift_JIS lacks, cells with commas, quotes and line breaks, NULLs, durations not known yet,
several touches and pages per call, codes, the carrier's call id, menu paths, outcomes and
tags, time zones with summer time and unknown ones, a click id read from the landing URL)
is exported in every format, form and caller setting by both, on both stores, and in every
download encoding.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from attribution import platforms, transcripts
from attribution.call_search import CallQuery
from attribution.csv_encoding import CSV_ENCODINGS, encode_csv
from attribution.csvcells import FORMULA_START, csv_rows, csv_writer
from attribution.exports import ExportFilter, IsoTimes, iso_time, stream_paths
from attribution.platforms import Classification, ClickId, Platform
from pool.store import Store
from tests.attribution import export_reference as reference

T0 = 1_780_000_000_000  # 2026-05-28
EVERYTHING = ExportFilter(0, 2**53)
FORMULAS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("a")']
TEXTS = [
    "",
    "インプラント 東京",
    "𠮷野家 🍣",
    "a,b",
    'say "hi"',
    "two\nlines",
    "-5",
    "+1.5",
    "+81312345678",
    " =spaced",
    '{"a":1},{"b":2}',
    *FORMULAS,
]
# A click id without a column: read back from the landing URL frozen on the call.
LINE = Platform(
    key="linetest",
    label="LINE",
    click_ids=(ClickId("ldtag_cl"),),
    classification=Classification("line"),
)


async def _seed(db: Store) -> None:
    rnd = random.Random(23)
    pick = rnd.choice
    async with db.write() as tx:
        adv = await tx.fetchval(
            "INSERT INTO advertisers (name, created_ms) VALUES ('Exports', 0) RETURNING id"
        )
        outcomes = [None]
        for label, kind in (
            ("@won", "won"),
            ("@lost", "lost"),
            ("=evil()", "open"),
            ("見込み", "open"),
        ):
            outcomes.append(
                await tx.fetchval(
                    "INSERT INTO call_outcomes (advertiser_id, label, kind, created_ms)"
                    " VALUES (:a, :l, :k, 0) RETURNING id",
                    {"a": adv, "l": label, "k": kind},
                )
            )
        sites = []
        for n, tz in enumerate(("Asia/Tokyo", "America/New_York", "Not/AZone", "UTC")):
            sites.append(
                await tx.fetchval(
                    "INSERT INTO sites (advertiser_id, site_key, name, timezone, created_ms)"
                    " VALUES (:a, :k, :k, :tz, 0) RETURNING id",
                    {"a": adv, "k": f"exp{n}", "tz": tz},
                )
            )
        # Around New York's change to winter time (2026-11-01 06:00 UTC) and at random.
        fall_back = int(datetime(2026, 11, 1, 5, 30, tzinfo=UTC).timestamp() * 1000)
        starts = [fall_back + i * 7 * 60_000 + i for i in range(20)]
        starts += [T0 + rnd.randrange(10**10) for _ in range(100)]
        starts += [starts[-1]] * 3  # the same start: call id order
        for i, started in enumerate(starts):
            site = sites[i % len(sites)]
            session = None
            if i % 7:
                session = await tx.fetchval(
                    "INSERT INTO sessions (site_id, started_ms, last_seen_ms, device, browser,"
                    " os, country, region, city) VALUES (:s, :t, :t, :d, :b, '', 'JP', :r, :c)"
                    " RETURNING id",
                    {
                        "s": site,
                        "t": started - rnd.randrange(1, 3_600_000),
                        "d": pick(["mobile", "desktop", ""]),
                        "b": pick(TEXTS),
                        "r": pick(TEXTS),
                        "c": pick(["新宿区", "", "=city"]),
                    },
                )
                # Pages before the call (the path), one after it (not in it); none at all.
                for step in range(i % 4):
                    await tx.execute(
                        "INSERT INTO page_views (session_id, ts_ms, url, title)"
                        " VALUES (:s, :t, :u, :ti)",
                        {
                            "s": session,
                            "t": started - (5 - step) * 60_000,
                            "u": pick(
                                ["https://a.example/ページ?x=1", "=cmd()", "https://a,b", ""]
                            ),
                            "ti": pick(TEXTS),
                        },
                    )
                await tx.execute(
                    "INSERT INTO page_views (session_id, ts_ms, url, title)"
                    " VALUES (:s, :t, 'https://later.example/', 'later')",
                    {"s": session, "t": started + 1000},
                )
            status = pick(["completed", "ringing", "no-answer", "busy", "in-progress"])
            answered = started + 3000 if status in ("completed", "in-progress") and i % 3 else None
            ended = started + 90_000 if status != "ringing" and i % 5 else None
            landing = pick(["", "https://a.example/?ldtag_cl=AbC123xyz", "https://a.example/?q=1"])
            call = await tx.fetchval(
                "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id,"
                " tracking_number, caller, forwarded_to, started_ms, answered_ms, ended_ms,"
                " status, duration_s, talk_s, session_id, match_method, match_candidates,"
                " match_confidence, match_reason, match_candidate_ids, qualified, first_time,"
                " code_digits, code_kind, qualified_by_hand, value_yen, outcome_id,"
                " outcome_suggested_id, outcome_suggested_by, menu_path, answered_by,"
                " queue_wait_s, voicemail_url, touch_channel, touch_source,"
                " touch_medium, touch_campaign, touch_ad_group, touch_keyword, touch_match_type,"
                " touch_landing_url, touch_referrer, touch_gclid, touch_yclid, touch_msclkid,"
                " created_ms, updated_ms) VALUES ('twilio', :pid, :a, :s, :num, :caller, :fwd,"
                " :t, :ans, :end, :status, :dur, :talk, :sess, :method, :k, :conf, :reason,"
                " :ids, :q, :ft, :code, :ckind, :byhand, :yen, :outcome, :suggested, :suggested_by,"
                " :menu, :by, :wait, :vm,"
                " :ch, :src, :med, :camp, :ag, :kw, :mt, :land, :ref, :gclid, :yclid, :msclkid,"
                " :t, :t) RETURNING id",
                {
                    "pid": "" if i == 5 else pick([f"CA{i:032x}", f"=carrier{i}", f"-{i}"]),
                    "a": adv,
                    "s": site,
                    "num": pick(["+815017000001", "+12125550100", "0120-000-000"]),
                    "caller": pick(
                        ["+819012345678", "+12125550123", "+44", "anonymous", "", "=HYPERLINK()"]
                    ),
                    "fwd": pick(["", "+81312345678", "=fwd"]),
                    "t": started,
                    "ans": answered,
                    "end": ended,
                    "status": status,
                    "dur": 0 if ended is None and i % 2 else rnd.randrange(0, 300),
                    "talk": 0 if answered is None else rnd.randrange(0, 200),
                    "sess": session,
                    "method": pick(["lease", "code", "none", "repeat"]),
                    "k": rnd.randrange(0, 4),
                    "conf": pick(["exact", "high", "", "low"]),
                    "reason": pick(TEXTS),
                    "ids": pick(["[]", f"[{session or 1}]", "[3, 5, 8]", "not json", '{"a": 1}']),
                    "q": i % 2,
                    "ft": (i // 2) % 2,
                    "code": pick(["", "4821", "=1"]),
                    "ckind": pick(["", "visit", "fixed"]),
                    "byhand": pick([None, 0, 1]),
                    "yen": pick([None, 0, 15000, -300]),
                    "outcome": pick(outcomes),
                    # A suggestion without its maker ('': made by rules before it was kept).
                    "suggested": pick(outcomes),
                    "suggested_by": pick(["", "rules", "model", "=by"]),
                    "menu": pick(["", "1>2", "1,3", "-1"]),
                    "by": pick(["", "+81312345678", "受付"]),
                    "wait": pick([None, 0, 42]),
                    "vm": pick(["", "https://vm.example/r.mp3", "@vm"]),
                    "ch": pick(["paid_search", "organic", ""]),
                    "src": pick(["google", "yahoo", "", "+src"]),
                    "med": pick(["cpc", ""]),
                    "camp": pick(TEXTS),
                    "ag": pick(TEXTS),
                    "kw": pick(TEXTS),
                    "mt": pick(["exact", "phrase", ""]),
                    "land": landing,
                    "ref": pick(["", "https://www.google.com/", "-ref"]),
                    "gclid": pick(["", "Cj0KCQ123", "=gclid"]),
                    "yclid": pick(["", "YSS.123", "YJAD.456"]),
                    "msclkid": pick(["", "abc123"]),
                },
            )
            if i % 3 == 0:  # what was said, for the transcript search
                await transcripts.store_transcript(
                    tx,
                    call_id=call,
                    advertiser_id=adv,
                    texts=[pick(["予約をお願いします", "キャンセルしたい", "hello"])],
                    now_ms=started,
                )
            for tag in rnd.sample(["至急", "=tag", "b", "a,b", "+tag"], rnd.randrange(0, 4)):
                await tx.execute(
                    "INSERT INTO call_tags (call_id, tag) VALUES (:c, :t)", {"c": call, "t": tag}
                )


async def _body(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.fixture
def line() -> Any:
    with platforms.registered(LINE) as platform:
        yield platform


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("form", ["wide", "long"])
async def test_the_fast_writer_writes_what_the_old_one_wrote(
    db: Store, line: Platform, fmt: str, form: str
) -> None:
    await _seed(db)
    for show in (False, True):
        kw: dict[str, Any] = {"fmt": fmt, "form": form, "show_callers": show}
        new = await _body(stream_paths(db, EVERYTHING, **kw))
        old = await _body(reference.stream_paths(db, EVERYTHING, **kw))
        assert new == old
        lines = (
            new.count(b"\n")
            if fmt == "ndjson"
            else len(list(csv.reader(io.StringIO(new.decode()))))
        )
        assert lines >= 123  # every call (the long form: every page) is there
    # Narrower filters (one with the transcript search, on each store's index), the same way.
    for flt in (
        ExportFilter(T0, T0 + 5 * 10**9, qualified_only=True),
        ExportFilter(0, 2**53, calls=CallQuery(said="予約")),
    ):
        new = await _body(stream_paths(db, flt, fmt=fmt, form=form))
        assert new == await _body(reference.stream_paths(db, flt, fmt=fmt, form=form))
        assert new.count("予約".encode()) == 0  # the transcript itself is not exported
    said = await _body(stream_paths(db, flt, fmt=fmt, form="wide"))
    rows = (
        said.count(b"\n")
        if fmt == "ndjson"
        else len(list(csv.reader(io.StringIO(said.decode())))) - 1
    )
    expected = await db.fetchval(
        "SELECT count(*) FROM call_transcripts WHERE normalised LIKE '%予約%'"
    )
    assert 0 < rows == expected < 123  # the calls where it was said, no other


async def test_every_download_encoding_is_the_same(db: Store, line: Platform) -> None:
    await _seed(db)
    for encoding in CSV_ENCODINGS:
        new = await encode_csv(stream_paths(db, EVERYTHING), encoding)
        old = await encode_csv(reference.stream_paths(db, EVERYTHING), encoding)
        assert (new.charset, await _body(new.body)) == (old.charset, await _body(old.body))
        assert new.replaced == old.replaced
    # Without the characters Shift_JIS lacks, Excel's download is Shift_JIS, as before.
    await db.execute("DELETE FROM call_tags")
    for table, column in (
        ("calls", "touch_campaign"),
        ("calls", "touch_ad_group"),
        ("calls", "touch_keyword"),
        ("calls", "match_reason"),
        ("sessions", "browser"),
        ("sessions", "region"),
        ("page_views", "title"),
    ):
        await db.execute(f"UPDATE {table} SET {column} = 'テキスト' WHERE {column} LIKE '%野家%'")
    new = await encode_csv(stream_paths(db, EVERYTHING), "excel")
    old = await encode_csv(reference.stream_paths(db, EVERYTHING), "excel")
    assert new.charset == old.charset == "shift_jis"
    assert await _body(new.body) == await _body(old.body)


async def test_progress_counts_every_call(db: Store) -> None:
    await _seed(db)
    seen: list[int] = []
    await _body(stream_paths(db, EVERYTHING, form="long", progress=seen.append))
    assert seen == sorted(seen) and seen[-1] == 123


def _slow(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv_writer(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def test_csv_rows_is_the_safe_writer_row_by_row() -> None:
    rnd = random.Random(5)
    cells: list[Any] = [
        *TEXTS,
        None,
        0,
        -7,
        3.5,
        -1e-05,
        True,
        "+1",
        "-",
        "+",
        "=",
        '"=x"',
        "a\r\n=b",
        ",=",
        "+1,2",
        "-3\r",
        "+81*****5678",
        "@",
        "'=x",
    ]
    for _ in range(3000):
        rows = [[rnd.choice(cells) for _ in range(rnd.randrange(1, 6))] for _ in range(3)]
        assert csv_rows(rows) == _slow(rows), rows
    # Rows of text only (joined without the csv module when nothing needs quotes).
    texts = [t for t in cells if type(t) is str] + ["1", "-3", "abc", "ｶﾅ", ""]
    for _ in range(3000):
        width = rnd.randrange(1, 5)
        rows = [[rnd.choice(texts) for _ in range(width)] for _ in range(rnd.randrange(1, 4))]
        assert csv_rows(rows) == _slow(rows), rows
        plain = [[rnd.choice(texts[-5:]) for _ in range(width)] for _ in range(2)]
        assert csv_rows(plain) == _slow(plain), plain
    # One dangerous cell in a thousand rows is found wherever it is.
    rows = [[str(i), "ok", "+81312345678", "-5"] for i in range(1000)]
    for at, cell in ((0, "=a"), (1, "=b"), (3, "+1a"), (2, "\tx")):
        changed = [list(r) for r in rows]
        changed[rnd.randrange(1000)][at] = cell
        assert csv_rows(changed) == _slow(changed)
        assert "'" + cell in csv_rows(changed)
    assert csv_rows(rows) == _slow(rows) and "'" not in csv_rows(rows)
    assert all(c in FORMULA_START for c in "=+-@\t\r")


def test_iso_times_are_iso_time() -> None:
    times = IsoTimes()
    rnd = random.Random(9)
    zones = [
        None,
        "",
        "UTC",
        "Asia/Tokyo",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "Europe/Dublin",
        "Not/AZone",
        "../etc",
    ]
    moments = [0, 999, 1000, T0, T0 + 999, 253_370_764_799_999, 253_370_764_800_000, -1, -1001]
    moments += [rnd.randrange(0, 4 * 10**12) for _ in range(3000)]
    # Every quarter of an hour across the summer-time changes of 2026 in several zones.
    for day in (
        datetime(2026, 3, 8, tzinfo=UTC),
        datetime(2026, 4, 5, tzinfo=UTC),
        datetime(2026, 10, 4, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    ):
        start = int(day.timestamp() * 1000)
        moments += [start + k * 900_000 + 59_999 for k in range(-96, 96)]
    for tz in zones:
        for ms in moments:
            try:
                expected = iso_time(ms, tz)
            except (OverflowError, ValueError, OSError):
                continue
            assert times(ms, tz) == expected, (ms, tz)
