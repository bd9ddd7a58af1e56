"""The call log's filters, search and pages (issue #17), on both stores: each filter, filters
together, a caller number typed in any format, pages newer and older that stay the same
while calls arrive, the count, and downloads that keep every filter."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from attribution import transcripts
from attribution.call_search import QueryError, parse_query
from backend.dashboard.call_filters import PAGE_SIZE
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded, add_call_a, add_token

DAY = "from=2025-03-01&to=2025-03-01"
DAY_PARAMS = {"from": "2025-03-01", "to": "2025-03-01"}
T0 = int(datetime(2025, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp() * 1000)
ROW = re.compile(r'<tr data-id="(\d+)"')


def ids(page: httpx.Response) -> list[int]:
    """The calls a log page lists, in order."""
    assert page.status_code == 200, page.text
    return [int(i) for i in ROW.findall(page.text)]


def count(page: httpx.Response) -> int:
    found = re.search(r'id="calls-count">(\d+)', page.text)
    assert found, page.text
    return int(found.group(1))


async def _calls(db: Store, s: Seeded) -> dict[str, int]:
    """Calls of one day, each different in one way; named by what sets it apart."""
    specs: dict[str, dict[str, Any]] = {
        "tokyo": {"caller": "+81312345678", "touch_source": "google", "touch_keyword": "歯医者"},
        "missed": {
            "caller": "+819011110000",
            "answered_ms": None,
            "status": "no-answer",
            "talk_s": 0,
            "touch_source": "yahoo",
        },
        "ringing": {"caller": "+819011110001", "answered_ms": None, "status": "ringing"},
        "blocked": {"caller": "+819011110002", "answered_ms": None, "status": "blocked"},
        "qualified": {"caller": "+819011110003", "qualified": 1, "touch_source": "google"},
        "by_hand": {
            "caller": "+819011110004",
            "qualified": 1,
            "qualified_by_hand": 1,
            "note": "予約 100% 確定_済",
            "touch_keyword": "Implant Price",
        },
        "tagged": {"caller": "+819011110005", "touch_source": "yahoo"},
    }
    made: dict[str, int] = {}
    async with db.write() as tx:
        won = await tx.fetchval(
            "SELECT id FROM call_outcomes WHERE advertiser_id = :a AND label = '@won'",
            {"a": s.adv_a},
        )
        for n, (name, fields) in enumerate(specs.items()):
            made[name] = await add_call_a(tx, s, started_ms=T0 + n * 60_000, **fields)
        await tx.execute(
            "INSERT INTO call_tags (call_id, tag) VALUES (:c, '要折り返し')", {"c": made["tagged"]}
        )
        await tx.execute(
            "UPDATE calls SET outcome_id = :o WHERE id = :c", {"o": won, "c": made["tagged"]}
        )
    return made


async def test_each_filter_and_filters_together(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    made = await _calls(db, seeded)
    await login(client, seeded.admin, PASSWORD)

    async def listed(query: str) -> set[int]:
        page = await client.get(f"/dashboard/calls?{DAY}&{query}")
        found = ids(page)
        assert count(page) == len(found)
        return set(found)

    assert await listed("") == set(made.values())
    answered = {made[k] for k in ("tokyo", "qualified", "by_hand", "tagged")}
    assert await listed("status=answered") == answered
    assert await listed("status=missed") == {made["missed"]}
    assert await listed("status=ongoing") == {made["ringing"]}
    assert await listed("status=blocked") == {made["blocked"]}
    assert await listed("qualified=yes") == {made["qualified"], made["by_hand"]}
    assert await listed("qualified=hand") == {made["by_hand"]}
    assert made["qualified"] not in await listed("qualified=no")
    assert await listed("source=yahoo") == {made["missed"], made["tagged"]}
    assert await listed("tag=要折り返し") == {made["tagged"]}
    assert await listed("outcome=@won") == {made["tagged"]}
    # Together: each narrows the other.
    assert await listed("source=google&qualified=yes") == {made["qualified"]}
    assert await listed("source=yahoo&status=answered") == {made["tagged"]}
    assert await listed("source=yahoo&status=answered&tag=要折り返し&outcome=@won") == {
        made["tagged"]
    }
    assert await listed("source=google&status=missed") == set()
    # Keyword and note text, case-blind; % and _ are plain characters.
    assert await listed("q=implant") == {made["by_hand"]}
    assert await listed("q=歯医者") == {made["tokyo"]}
    assert await listed("q=100%25") == {made["by_hand"]}
    assert await listed("q=確定_済") == {made["by_hand"]}
    assert await listed("q=_") == {made["by_hand"]}
    assert await listed("q=%25") == {made["by_hand"]}
    # With the filter bar's confidence and a report's drill-down too.
    assert await listed("by=keyword&value=歯医者&status=answered") == {made["tokyo"]}
    assert await listed("by=keyword&value=歯医者&status=missed") == set()
    # Bad values are 400, never a 500.
    for bad in ("status=gone", "qualified=maybe", "caller=not-a-number", "q=" + "x" * 101):
        assert (await client.get(f"/dashboard/calls?{DAY}&{bad}")).status_code == 400, bad


TYPED = ["03-1234-5678", "+81312345678", "(03) 1234 5678", "０３－１２３４－５６７８", "+81 3-1234"]


@pytest.mark.parametrize("typed", [*TYPED[:4], TYPED[4] + "-5678"])
async def test_a_caller_number_in_any_format(
    client: httpx.AsyncClient, seeded: Seeded, db: Store, typed: str
) -> None:
    made = await _calls(db, seeded)
    await login(client, seeded.admin, PASSWORD)
    for name in ("q", "caller"):
        page = await client.get("/dashboard/calls", params={**DAY_PARAMS, name: typed})
        assert ids(page) == [made["tokyo"]], (name, typed)
    # Part of a number: the last digits, or the national ones with their trunk 0.
    for part in ("5678", "03-1234", "1234-5678"):
        page = await client.get("/dashboard/calls", params={**DAY_PARAMS, "q": part})
        assert ids(page) == [made["tokyo"]], part


async def test_a_viewer_who_may_not_see_callers_cannot_search_by_number(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    made = await _calls(db, seeded)
    await login(client, seeded.member_a, PASSWORD)  # members see masked callers
    assert ids(await client.get(f"/dashboard/calls?{DAY}&q=03-1234-5678")) == []
    assert ids(await client.get(f"/dashboard/calls?{DAY}&q=歯医者")) == [made["tokyo"]]
    page = await client.get(f"/dashboard/calls?{DAY}&caller=03-1234-5678")
    assert page.status_code == 403
    assert 'name="caller"' not in (await client.get(f"/dashboard/calls?{DAY}")).text


async def test_pages_newer_and_older_are_the_same_pages_and_the_total_is_right(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    total = 2 * PAGE_SIZE + 20
    async with db.write() as tx:
        for n in range(total):
            # Pairs of calls start in the same millisecond: pages are cut by (time, id).
            await add_call_a(tx, seeded, caller="+819022220000", started_ms=T0 + (n // 2) * 1000)
    await login(client, seeded.admin, PASSWORD)
    first = await client.get(f"/dashboard/calls?{DAY}&status=answered")
    pages = [ids(first)]
    assert count(first) == total and "1–50" in first.text
    html = first.text
    while (older := re.search(r'rel="next" href="\?([^"]+)"', html)) is not None:
        if len(pages) == 1:
            # A call that arrives while someone pages moves nothing.
            async with db.write() as tx:
                await add_call_a(tx, seeded, caller="+819033330000", started_ms=T0 + 10**7)
        page = await client.get("/dashboard/calls?" + older.group(1).replace("&amp;", "&"))
        pages.append(ids(page))
        html = page.text
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 20]
    walked = [i for p in pages for i in p]
    assert len(set(walked)) == total
    # The count and positions include the call that arrived (one more, above).
    assert count(page) == total + 1 and "102–121" in html
    # Back again, newer each time: the same pages.
    back = [pages[-1]]
    while (newer := re.search(r'rel="prev" href="\?([^"]+)"', html)) is not None:
        page = await client.get("/dashboard/calls?" + newer.group(1).replace("&amp;", "&"))
        back.append(ids(page))
        html = page.text
        if len(back) == len(pages):
            break
    assert back[::-1] == pages


async def test_downloads_keep_every_filter(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    made = await _calls(db, seeded)
    await login(client, seeded.admin, PASSWORD)
    page = await client.get(f"/dashboard/calls?{DAY}&source=yahoo&status=answered&q=")
    links = re.findall(r'href="(/dashboard/calls/export\?[^"]+)"', page.text)
    assert len(links) == 6
    for link in links:
        assert "source=yahoo" in link and "status=answered" in link
        got = await client.get(link.replace("&amp;", "&"))
        assert got.status_code == 200
        charset = "cp932" if "shift_jis" in got.headers["content-type"] else "utf-8-sig"
        rows = list(csv.DictReader(io.StringIO(got.content.decode(charset))))
        wanted = set() if "qualified=yes" in link else {made["tagged"]}
        assert {int(r["call_id"]) for r in rows} == wanted, link
    # The old "qualified only" link still works.
    old = await client.get(f"/dashboard/calls/export?{DAY}&qualified=1")
    rows = list(csv.DictReader(io.StringIO(old.text)))
    assert {int(r["call_id"]) for r in rows} == {made["qualified"], made["by_hand"]}


def test_parse_query_reads_numbers_the_way_they_are_stored() -> None:
    assert parse_query(search="03-1234-5678").number == "+81312345678"
    assert parse_query(search="+81312345678").number == "+81312345678"
    assert parse_query(search="090 1234").digits == "901234"
    assert parse_query(search="12").digits is None  # too short to be a number search
    assert parse_query(search="歯医者").number is None
    assert parse_query(caller="03-1234-5678").caller == "+81312345678"
    with pytest.raises(QueryError) as exc:
        parse_query(caller="12")
    assert exc.value.field == "caller"
    assert parse_query(search="090 1234").without_numbers().digits is None


async def test_the_api_call_list_takes_the_same_filters(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    made = await _calls(db, seeded)
    sees = await add_token(db, seeded.admin, advertiser_id=None, can_see_callers=True)
    masked = await add_token(db, seeded.member_a, advertiser_id=seeded.adv_a)
    won = await db.fetchval(
        "SELECT id FROM call_outcomes WHERE advertiser_id = :a AND label = '@won'",
        {"a": seeded.adv_a},
    )

    async def listed(token: str, **params: Any) -> set[int]:
        got = await client.get(
            "/api/calls",
            params={"start": "2025-03-01", "end": "2025-03-01", **params},
            headers={"authorization": f"Bearer {token}"},
        )
        assert got.status_code == 200, got.text
        return {c["id"] for c in got.json()["data"]}

    assert await listed(sees, status="missed") == {made["missed"]}
    assert await listed(sees, qualified="true", qualified_by_hand="true") == {made["by_hand"]}
    assert await listed(sees, source="yahoo", tag="要折り返し", outcome_id=won) == {made["tagged"]}
    for typed in ("03-1234-5678", "+81312345678"):
        assert await listed(sees, q=typed) == {made["tokyo"]}
        assert await listed(sees, caller=typed) == {made["tokyo"]}
    assert await listed(masked, q="03-1234-5678") == set()
    assert await listed(masked, q="implant") == {made["by_hand"]}
    refused = await client.get(
        "/api/calls?caller=0312345678", headers={"authorization": f"Bearer {masked}"}
    )
    assert refused.status_code == 403
    bad = await client.get("/api/calls?status=gone", headers={"authorization": f"Bearer {sees}"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"


async def test_what_was_said_filters_the_log_its_pages_and_its_downloads(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    made = await _calls(db, seeded)
    said = {
        "tokyo": ["明日の午前に予約をお願いします"],
        "qualified": ["ヨヤクの変更です"],
        "tagged": ["Please cancel my appointment"],
    }
    async with db.write() as tx:
        for name, texts in said.items():
            await transcripts.store_transcript(
                tx, call_id=made[name], advertiser_id=seeded.adv_a, texts=texts, now_ms=0
            )
    await login(client, seeded.admin, PASSWORD)  # an administrator may hear recordings
    page = await client.get(f"/dashboard/calls?{DAY}&said=予約")
    assert ids(page) == [made["tokyo"]] and count(page) == 1
    assert 'name="said"' in page.text and 'value="予約"' in page.text
    # Width and kana folded; with the other filters; Latin letters case-blind.
    assert set(ids(await client.get(f"/dashboard/calls?{DAY}&said=ﾖﾔｸ"))) == {made["qualified"]}
    both = await client.get(f"/dashboard/calls?{DAY}&said=よやく&qualified=yes")
    assert ids(both) == [made["qualified"]]
    assert ids(await client.get(f"/dashboard/calls?{DAY}&said=CANCEL&status=missed")) == []
    # The downloads of the page hold the same calls.
    links = re.findall(r'href="(/dashboard/calls/export\?[^"]+)"', page.text)
    assert links and all("said=" in link for link in links)
    got = await client.get(links[0].replace("&amp;", "&"))
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert {int(r["call_id"]) for r in rows} == {made["tokyo"]}
    too_long = await client.get(f"/dashboard/calls?{DAY}&said={'x' * 101}")
    assert too_long.status_code == 400
    # A member without the recording right neither sees the field nor may use it.
    client.cookies.clear()
    await login(client, seeded.member_a, PASSWORD)
    assert 'name="said"' not in (await client.get(f"/dashboard/calls?{DAY}")).text
    assert (await client.get(f"/dashboard/calls?{DAY}&said=予約")).status_code == 403


async def test_the_log_pages_keep_what_was_said(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    booked = set()
    async with db.write() as tx:
        for n in range(PAGE_SIZE + 40):
            call = await add_call_a(tx, seeded, caller="+819022220000", started_ms=T0 + n * 1000)
            says = "予約です" if n % 3 else "問い合わせ"
            await transcripts.store_transcript(
                tx, call_id=call, advertiser_id=seeded.adv_a, texts=[says], now_ms=0
            )
            if n % 3:
                booked.add(call)
    await login(client, seeded.admin, PASSWORD)
    first = await client.get(f"/dashboard/calls?{DAY}&said=予約")
    assert count(first) == len(booked) and len(ids(first)) == PAGE_SIZE
    older = re.search(r'rel="next" href="\?([^"]+)"', first.text)
    assert older is not None and "said=" in older.group(1)
    second = await client.get("/dashboard/calls?" + older.group(1).replace("&amp;", "&"))
    assert count(second) == len(booked)
    assert set(ids(first)) | set(ids(second)) == booked
