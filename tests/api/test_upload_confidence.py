"""Uploads carry only matches sure enough to bid on (issue #23, defect 3).

A late caller matched to the number's next holder (`low`, late-call window), an ambiguous
match and an overflow match must not reach Google, Yahoo! or GA4 as if they were certain:
ambiguous and overflow are left out unless asked for, and the minimum confidence is the
upload's choice (the server's ``CALLPATH_UPLOAD_MIN_CONFIDENCE`` by default).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest

from attribution import conversions as conv
from attribution.upload_policy import UploadPolicy
from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World, jst_ms
from tests.api.test_ga4 import LOCAL, Receiver

NOW = jst_ms(2026, 11, 20, 12, 0)
RANGE = {"start_ms": jst_ms(2026, 11, 15), "end_ms": jst_ms(2026, 11, 16)}


async def _clicked_call(
    db: SQLiteDatabase, world: World, gclid: str, method: str, confidence: str, minute: int
) -> int:
    """A Google click and its call, matched by ``method`` with ``confidence``."""
    started = jst_ms(2026, 11, 15, 10, minute)
    session = await world.add_session(
        db,
        started,
        channel="paid_search",
        source="google",
        medium="cpc",
        gclid=gclid,
        ga_client_id=f"GA1.1.{minute + 1000}.1700000000",
    )
    return await world.add_call(
        db,
        started + 30_000,
        session_id=session,
        match_method=method,
        match_confidence=confidence,
        match_reason="late_call_window" if confidence == "low" else "heartbeat_live",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
async def matches(db: SQLiteDatabase, world: World) -> dict[str, int]:
    """One call per kind of match, each with its own gclid."""
    kinds = {
        "exact": ("code", "exact"),
        "high": ("lease", "high"),
        "medium": ("lease", "medium"),
        "low": ("lease", "low"),
        "ambiguous": ("ambiguous", "low"),
        "overflow": ("overflow", "medium"),
    }
    return {
        name: await _clicked_call(db, world, f"gclid-{name}", method, confidence, i)
        for i, (name, (method, confidence)) in enumerate(kinds.items())
    }


def _gclids(content: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))[2:]
    return sorted(r[0].removeprefix("gclid-") for r in rows)


async def test_ambiguous_and_overflow_are_left_out_by_default(
    db: SQLiteDatabase, matches: dict[str, int]
) -> None:
    f = await conv.export_conversions(db, platform="google", now_ms=NOW, **RANGE)
    assert _gclids(f.content) == ["exact", "high", "low", "medium"]
    assert f.skipped == {"ambiguous_match": 2}
    # Left out of the ledger, not lost: asking for them later sends them once.
    wider = await conv.export_conversions(
        db,
        platform="google",
        now_ms=NOW,
        policy=UploadPolicy(include_ambiguous=True),
        **RANGE,
    )
    assert _gclids(wider.content) == ["ambiguous", "overflow"]


async def test_a_minimum_confidence_keeps_guesses_out(
    db: SQLiteDatabase, matches: dict[str, int]
) -> None:
    f = await conv.export_conversions(
        db,
        platform="google",
        now_ms=NOW,
        policy=UploadPolicy(min_confidence="high"),
        **RANGE,
    )
    assert _gclids(f.content) == ["exact", "high"]
    assert f.skipped == {"ambiguous_match": 2, "below_min_confidence": 2}


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError):
        UploadPolicy(min_confidence="certain")
    # A call stored before confidences existed counts as low.
    assert UploadPolicy().refusal("lease", "") is None
    assert UploadPolicy(min_confidence="medium").refusal("lease", "") == "below_min_confidence"


async def test_the_api_takes_the_policy_and_says_what_it_left_out(
    client: httpx.AsyncClient, world: World, matches: dict[str, int]
) -> None:
    base = "/api/exports/conversions/google?start=2026-11-15&end=2026-11-15&preview=true"
    r = await client.post(base, headers=world.auth())
    assert r.status_code == 200
    assert _gclids(r.content) == ["exact", "high", "low", "medium"]
    assert r.headers["X-Callpath-Skipped"] == "ambiguous_match=2"
    r = await client.post(base + "&min_confidence=medium", headers=world.auth())
    assert _gclids(r.content) == ["exact", "high", "medium"]
    assert "below_min_confidence=1" in r.headers["X-Callpath-Skipped"]
    r = await client.post(base + "&include_ambiguous=true", headers=world.auth())
    assert _gclids(r.content) == ["ambiguous", "exact", "high", "low", "medium", "overflow"]
    for bad in ("min_confidence=sure", "include_ambiguous=maybe"):
        r = await client.post(f"{base}&{bad}", headers=world.auth())
        assert r.status_code == 422 and r.json()["error"]["field"] == bad.split("=")[0]


async def test_ga4_sends_only_what_the_policy_allows(
    db: SQLiteDatabase, world: World, receiver: Receiver
) -> None:
    now = now_ms()
    for i, (method, confidence) in enumerate(
        [("lease", "high"), ("lease", "low"), ("ambiguous", "low"), ("overflow", "high")]
    ):
        session = await world.add_session(db, now - 60_000, ga_client_id=f"GA1.1.{i}.9")
        await world.add_call(
            db, now - 30_000, session_id=session, match_method=method, match_confidence=confidence
        )
    await receiver.send_site_here(db, world.site_id, now)
    r = await conv.push_ga4(
        db,
        site_id=world.site_id,
        start_ms=now - 60_000,
        end_ms=now,
        now_ms=now,
        policy=LOCAL,
        uploads=UploadPolicy(min_confidence="high"),
    )
    assert (r.sent, r.skipped) == (1, 3)
    r = await conv.push_ga4(
        db, site_id=world.site_id, start_ms=now - 60_000, end_ms=now, now_ms=now, policy=LOCAL
    )
    assert (r.sent, r.skipped) == (1, 2)  # the low lease match now; still no shared ones
