"""The ad-platform registry: a platform added to it (here LINE Ads, test-only) appears in
classification, sessions, exports, a conversion file and the whisper with no other change;
a platform it does not hold is refused, never written in another platform's format."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from attribution import conversions as conv
from attribution import platforms
from attribution.exports import ExportFilter, stream_paths
from attribution.sources import classify
from backend.telephony.matching import call_source
from backend.telephony.whisper import source_label
from pool.store import Store, now_ms
from tests.api.conftest import make_call

LINE = platforms.Platform(
    key="line",
    label="LINE Ads",
    click_ids=(platforms.ClickId("ldtag_cl", display_prefixes=("LAPD",)),),
    classification=platforms.Classification("line"),
    conversions=platforms.ConversionFormat(
        columns=(("ldtag_cl", "LINE Click ID"),), timezone_row=""
    ),
    spoken=(platforms.Spoken("line", ("LINE広告", "LINE"), ("LINE Ads", "LINE")),),
)
CLICK = "LD.1a2B3c-4d_5E"


@pytest.fixture
def line() -> Iterator[platforms.Platform]:
    with platforms.registered(LINE) as platform:
        yield platform


def test_a_registered_platform_classifies_its_clicks(line: platforms.Platform) -> None:
    got = classify("https://shop.example/lp?" + urlencode({"ldtag_cl": CLICK}))
    assert (got.channel, got.source, got.medium) == ("paid_search", "line", "cpc")
    assert got.click_id("ldtag_cl") == CLICK and got.tagged
    assert got.as_touch(1)["ldtag_cl"] == CLICK
    display = classify("https://shop.example/lp?ldtag_cl=LAPD.9")
    assert display.channel == "display"
    bad = classify("https://shop.example/lp?ldtag_cl=%3D1%2Bcmd")
    assert bad.invalid_click_ids == ("ldtag_cl",) and bad.channel == "direct"
    # A Google click still decides ahead of it (registration order).
    both = classify("https://shop.example/lp?" + urlencode({"gclid": "G1", "ldtag_cl": CLICK}))
    assert both.source == "google" and both.click_id("ldtag_cl") == CLICK


def test_without_the_platform_its_parameter_is_nothing() -> None:
    got = classify("https://shop.example/lp?" + urlencode({"ldtag_cl": CLICK}))
    assert got.channel == "direct" and got.other_click_ids == ()
    with pytest.raises(platforms.UnknownPlatform):
        platforms.get("line")


async def test_a_registered_platform_reaches_sessions_exports_files_and_whisper(
    line: platforms.Platform, client: httpx.AsyncClient, db: Store, demo: Any
) -> None:
    url = "http://127.0.0.1/examples/?" + urlencode({"ldtag_cl": CLICK, "utm_term": "歯医者"})
    r = await client.post("/v1/session", json={"site": "demo", "url": url})
    assert r.status_code == 200, r.text
    session = await db.fetchone(
        "SELECT s.id, s.site_id, s.channel, s.source, s.first_touch, s.last_touch,"
        " st.advertiser_id FROM sessions s JOIN sites st ON st.id = s.site_id"
    )
    assert session is not None
    # Sessions: classified, and the click id stored (no column: the touch JSON keeps it).
    assert (session["channel"], session["source"]) == ("paid_search", "line")
    assert orjson.loads(session["first_touch"])["ldtag_cl"] == CLICK
    assert orjson.loads(session["last_touch"])["ldtag_cl"] == CLICK
    started = now_ms() + 1000
    call_id = await make_call(
        db,
        advertiser_id=session["advertiser_id"],
        site_id=session["site_id"],
        started_ms=started,
        session_id=session["id"],
    )
    # Exports: one column for the click id, holding the call's frozen click.
    flt = ExportFilter(started - 1, started + 1)
    body = b"".join([c async for c in stream_paths(db, flt, fmt="csv")]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1 and rows[0]["ldtag_cl"] == CLICK
    assert list(rows[0]).index("ldtag_cl") == list(rows[0]).index("msclkid") + 1
    nd = b"".join([c async for c in stream_paths(db, flt, fmt="ndjson")])
    assert orjson.loads(nd.splitlines()[0])["gclid"] is None
    assert orjson.loads(nd.splitlines()[0])["ldtag_cl"] == CLICK
    # A conversion file in the platform's own format.
    assert "line" in conv.FILE_PLATFORMS
    f = await conv.export_conversions(
        db, platform="line", start_ms=started - 1, end_ms=started + 1, now_ms=started
    )
    assert f.count == 1 and f.filename.startswith("line-conversions-")
    lines = list(csv.reader(io.StringIO(f.content.decode())))
    assert lines[0] == ["LINE Click ID", *platforms.ConversionFormat(columns=()).tail]
    assert lines[1][0] == CLICK
    # No other platform's file takes it.
    for other in ("google", "yahoo", "microsoft"):
        none = await conv.export_conversions(
            db, platform=other, start_ms=started - 1, end_ms=started + 1, now_ms=started
        )
        assert none.count == 0
    # The whisper names the platform by its own label.
    touch = await call_source(db, call_id)
    assert touch is not None
    assert source_label(touch, "ja-JP") == "LINE広告"


async def test_an_unknown_platform_is_refused_not_written_as_microsoft(db: Store) -> None:
    with pytest.raises(platforms.UnknownPlatform):
        await conv.export_conversions(db, platform="line", start_ms=0, end_ms=1, now_ms=1)
    with pytest.raises(platforms.UnknownPlatform):
        conv.check_settings("line", conv.ConversionSettings())
    with pytest.raises(platforms.UnknownPlatform):
        platforms.file_format("meta")  # a platform without an upload file


def test_the_registry_refuses_a_clash() -> None:
    taken = platforms.Platform("x", "X", (platforms.ClickId("gclid"),), LINE.classification)
    with pytest.raises(ValueError, match="gclid"):
        platforms.register(taken)
    column = platforms.Platform(
        "y", "Y", (platforms.ClickId("yid", "new_column"),), LINE.classification
    )
    with pytest.raises(ValueError, match="column"):
        platforms.register(column)
    with pytest.raises(ValueError, match="taken"):
        platforms.register(platforms.GOOGLE)
    assert "x" not in platforms.keys() and "y" not in platforms.keys()
