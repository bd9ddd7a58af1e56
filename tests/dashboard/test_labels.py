"""Stored values read as words on every page that shows them, never as message ids or raw
values: call statuses (answered, blocked), the organic_search channel, a missing keyword."""

from __future__ import annotations

import re

import httpx
import orjson
import pytest

from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded, add_call, add_session

JA = {"accept-language": "ja"}
# A message id shown as is ("status.answered"), or a stored value that has words.
RAW = re.compile(r"\b(status|match|confidence|channel|reason|dim)\.[a-z_-]+|organic_search")


async def _calls(db: Store, seeded: Seeded) -> dict[str, int]:
    """An organic-search visit without a keyword that called (answered), and a blocked call
    without a visit, both of advertiser A, an hour ago."""
    at = now_ms() - 3600_000
    number = await db.fetchone(
        "SELECT number FROM tracking_numbers WHERE id = :i", {"i": seeded.number_a}
    )
    assert number is not None
    async with db.write() as conn:
        visit = await add_session(
            conn,
            seeded.site_a,
            at,
            channel="organic_search",
            source="google",
            medium="organic",
            keyword="",
            landing_url="https://demo.example.jp/",
        )
        common = {
            "advertiser_id": seeded.adv_a,
            "site_id": seeded.site_a,
            "number_id": seeded.number_a,
            "tracking_number": number["number"],
        }
        answered = await add_call(
            conn,
            **common,
            caller="+819055556666",
            started_ms=at + 60_000,
            session_id=visit,
            status="answered",
            match_confidence="high",
            match_reason="page_open",
        )
        blocked = await add_call(
            conn,
            **common,
            caller="+819077778888",
            started_ms=at + 120_000,
            status="blocked",
            talk_s=0,
        )
    return {"answered": answered, "blocked": blocked}


def _shown(html: str) -> str:
    """What a person reads on a page: its text and its tooltips, not its URLs or classes."""
    titles = " ".join(re.findall(r'title="([^"]*)"', html))
    return re.sub(r"<[^>]*>", " ", html) + " " + titles


@pytest.mark.parametrize(
    ("headers", "answered", "blocked", "organic", "none"),
    [
        (JA, "応答", "着信拒否", "自然検索", "(なし)"),
        ({}, "answered", "blocked", "Organic search", "(none)"),
    ],
)
async def test_statuses_channels_and_empty_keywords_read_as_words(
    client: httpx.AsyncClient,
    seeded: Seeded,
    db: Store,
    headers: dict[str, str],
    answered: str,
    blocked: str,
    organic: str,
    none: str,
) -> None:
    ids = await _calls(db, seeded)
    await login(client, seeded.member_a, PASSWORD)
    pages = {
        "log": await client.get("/dashboard/calls", headers=headers),
        "live": await client.get("/dashboard/live", headers=headers),
        "answered": await client.get(f"/dashboard/calls/{ids['answered']}", headers=headers),
        "blocked": await client.get(f"/dashboard/calls/{ids['blocked']}", headers=headers),
        "channels": await client.get("/dashboard?by=channel", headers=headers),
        "keywords": await client.get("/dashboard?by=keyword", headers=headers),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        shown = _shown(page.text)
        found = RAW.search(shown)
        assert not found, (name, shown[max(0, found.start() - 200) : found.end() + 50])
        # Python's None never reaches a page as a word (an empty keyword is '(none)' or blank).
        assert not re.search(r"\bNone\b", shown), name
    for name in ("log", "live"):
        assert answered in pages[name].text and blocked in pages[name].text, name
    # The live screen's stream: every field people read is translated.
    stream = await client.get("/dashboard/live/stream?after=0", headers=headers)
    items = [
        orjson.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")
    ]
    statuses = {i["status"] for i in items}
    assert {answered, blocked} <= statuses
    for item in items:
        readable = " ".join(str(item[k]) for k in ("status", "matched", "confidence", "source"))
        assert not RAW.search(readable) and "None" not in readable, item
    assert answered in pages["answered"].text and blocked in pages["blocked"].text
    # The channel in the table and in the chart's legend, and the call's own visit.
    assert pages["channels"].text.count(organic) >= 2
    assert organic in pages["answered"].text
    # The keyword report's row of calls without a keyword.
    assert none in pages["keywords"].text
