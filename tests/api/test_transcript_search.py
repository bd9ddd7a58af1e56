"""Searching what was said in calls (issue #22): the store's own full-text index (SQLite
FTS5, PostgreSQL a GIN text-search index; migration 0041), Japanese and English, the call
filter of ``GET /api/calls``, and numbers said in a call never findable."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from attribution import transcripts
from attribution.transcripts import search_calls
from backend import accounts
from tests.api.conftest import World, jst_ms

JAPANESE = ["明日の午前に予約をお願いします", "ｷｬﾝｾﾙ待ちでも大丈夫です"]
ENGLISH = ["I would like to cancel my appointment", "Sure, which day was it?"]
BOTH = ["予約の変更です", "OK, we can MOVE it to Friday"]


async def _said(db: Any, call_id: int, texts: list[str], advertiser_id: int) -> None:
    async with db.write() as tx:
        await transcripts.store_transcript(
            tx, call_id=call_id, advertiser_id=advertiser_id, texts=texts, now_ms=0
        )


async def _three_calls(db: Any, world: World) -> tuple[int, int, int]:
    calls = []
    for minute, texts in enumerate((JAPANESE, ENGLISH, BOTH)):
        call = await world.add_call(db, jst_ms(2026, 11, 20, 10, minute))
        await _said(db, call, texts, world.advertiser_id)
        calls.append(call)
    return calls[0], calls[1], calls[2]


async def _index_consistent(db: Any) -> None:
    """The full-text index holds exactly what call_transcripts holds."""
    if db.dialect == "sqlite":
        # FTS5 checks its index against the external content table, row by row.
        await db.execute(
            "INSERT INTO transcript_fts (transcript_fts, rank) VALUES ('integrity-check', 1)"
        )
        indexed = await db.fetchval("SELECT COUNT(*) FROM transcript_fts")
        assert indexed == await db.fetchval("SELECT COUNT(*) FROM call_transcripts")


async def test_japanese_and_english_phrases_are_found_through_the_index(
    db: Any, world: World
) -> None:
    ja, en, both = await _three_calls(db, world)
    assert await search_calls(db, "予約") == [ja, both]
    assert await search_calls(db, "午前に予約を") == [ja]
    # Width and kana folded both ways: ｷｬﾝｾﾙ was stored as きゃんせる.
    assert await search_calls(db, "キャンセル待ち") == [ja]
    assert await search_calls(db, "きゃんせる") == [ja]
    assert await search_calls(db, "CANCEL  my") == [en]
    assert await search_calls(db, "ｍｏｖｅ ｉｔ") == [both]
    assert await search_calls(db, "cancel") == [en]  # not ja's きゃんせる
    assert await search_calls(db, "約") == [ja, both]  # one character: LIKE alone
    assert await search_calls(db, "予約をキャンセル") == []  # every bigram, not the phrase
    assert await search_calls(db, "100%") == []
    await _index_consistent(db)

    # A new transcript replaces the old one in the index; deleting it leaves nothing.
    await _said(db, ja, ["お問い合わせです"], world.advertiser_id)
    assert await search_calls(db, "予約") == [both]
    assert await search_calls(db, "問い合わせ") == [ja]
    await db.execute("DELETE FROM call_transcripts WHERE call_id = :c", {"c": both})
    assert await search_calls(db, "予約") == []
    await _index_consistent(db)


async def test_the_store_answers_from_its_full_text_index(db: Any, world: World) -> None:
    ja, _, both = await _three_calls(db, world)
    tokens = transcripts.gram_tokens(transcripts.normalise("予約"))
    if db.dialect == "sqlite":
        rows = await db.fetchall(
            "SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH :q ORDER BY rowid",
            {"q": " ".join(f'"{t}"' for t in tokens)},
        )
        assert [r["rowid"] for r in rows] == [ja, both]
        return
    sql, params = transcripts.search_condition("予約の変更", db.dialect)
    async with db.write() as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        plan = await tx.fetchall(f"EXPLAIN SELECT c.id FROM calls c WHERE {sql}", params)
    assert "call_transcripts_search" in " ".join(str(r["QUERY PLAN"]) for r in plan)


async def test_a_number_said_in_a_call_is_not_findable(db: Any, world: World) -> None:
    call = await world.add_call(db, jst_ms(2026, 11, 21, 9, 0))
    await _said(
        db,
        call,
        ["my card is 4111 1111 1111 1111", "電話番号は０９０－１２３４－５６７８です"],
        world.advertiser_id,
    )
    for number in ("4111 1111", "41111111", "1111", "09012345678", "090-1234", "5678"):
        assert await search_calls(db, number) == [], number
    assert await search_calls(db, "電話番号は") == [call]
    assert await search_calls(db, "my card is [number]") == [call]
    stored = await db.fetchval("SELECT normalised FROM call_transcripts WHERE call_id = :c",
                               {"c": call})  # fmt: skip
    assert not any(ch.isdigit() for ch in stored)


async def _listener(db: Any, world: World, *, hears: bool) -> dict[str, str]:
    """A member of the demo advertiser with a token that may (or may not) hear recordings."""
    async with db.write() as tx:
        user = await accounts.create_user(
            tx, email=f"said-{int(hears)}@example.com", password="pw-said-1",
            advertiser_id=world.advertiser_id, now_ms=0,
        )  # fmt: skip
        await accounts.set_hears_recordings(tx, user_id=user, allowed=hears)
        token = await accounts.create_api_token(
            tx, user_id=user, advertiser_id=world.advertiser_id, name="t", now_ms=0,
            can_hear_recordings=hears,
        )  # fmt: skip
    return world.auth(token)


async def test_the_call_list_filters_by_what_was_said(
    client: httpx.AsyncClient, db: Any, world: World
) -> None:
    ja, en, both = await _three_calls(db, world)
    other = await world.add_call(db, jst_ms(2026, 11, 20, 11, 0))  # said nothing
    listener = await _listener(db, world, hears=True)
    span = "start=2026-11-20&end=2026-11-20"

    async def ids(query: str, headers: dict[str, str] = listener) -> list[int]:
        r = await client.get(f"/api/calls?{span}&{query}", headers=headers)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]]

    assert other in await ids("")
    assert await ids("said=予約") == [both, ja]
    assert await ids("said=ｷｬﾝｾﾙ") == [ja]
    assert await ids("said=appointment") == [en]
    assert await ids("said=予約&limit=1") == [both]  # with the other filters and the page
    assert await ids("said=予約&status=answered") == []  # none was answered
    # Only for a token that may hear recordings; bad input is a 4xx, never a 500.
    deaf = await client.get(f"/api/calls?{span}&said=予約", headers=world.auth())
    assert deaf.status_code == 403
    unheard = await _listener(db, world, hears=False)
    assert (await client.get(f"/api/calls?said=x&{span}", headers=unheard)).status_code == 403
    long = await client.get(f"/api/calls?{span}&said={'あ' * 101}", headers=listener)
    assert long.status_code == 422 and long.json()["error"]["field"] == "said"
    for odd in ("%", "_", "!", "'", '"', "&", "|", ":*", "\\"):
        assert await ids("said=" + quote(odd)) == []
