"""Conversion actions: several per site and platform, adjustments, feed URLs (issue #23).

The world (tests/api/conftest.py) has, on the demo site in November 2026: a Google click
(gclid) with a qualified call and an unqualified one, an iOS Google click (wbraid) with a
qualified call, a Yahoo! search click with a qualified call, a Microsoft click. Every call
talked 80 s and is a first-time caller's.
"""

from __future__ import annotations

from typing import Any

import httpx

from backend.storage import SQLiteDatabase
from pool.store import now_ms
from tests.api.conftest import World, jst_ms

NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}


async def _action(client: httpx.AsyncClient, w: World, **fields: Any) -> dict[str, Any]:
    made = await client.post(
        f"/api/sites/{w.site_id}/conversion-actions", json=fields, headers=w.auth()
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def _export(client: httpx.AsyncClient, w: World, action_id: int) -> httpx.Response:
    got = await client.post(
        f"/api/conversion-actions/{action_id}/export", params=NOVEMBER, headers=w.auth()
    )
    assert got.status_code == 200, got.text
    return got


async def _adjust(client: httpx.AsyncClient, w: World, action_id: int) -> httpx.Response:
    got = await client.post(f"/api/conversion-actions/{action_id}/adjustments", headers=w.auth())
    assert got.status_code == 200, got.text
    return got


async def _work(client: httpx.AsyncClient, w: World, call: str, **fields: Any) -> None:
    done = await client.patch(f"/api/calls/{w.calls[call]}/work", json=fields, headers=w.auth())
    assert done.status_code == 200, done.text


async def test_a_call_counts_for_every_action_whose_rule_it_meets(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    every = await _action(
        client, w, platform="google", name="電話", qualified_only=False, value="1000"
    )
    qualified = await _action(client, w, platform="google", name="有効電話", value="3000")
    long_calls = await _action(client, w, platform="google", name="長い電話", min_talk_s=90)
    assert (every["qualified_only"], qualified["qualified_only"]) == (False, True)

    all_calls = (await _export(client, w, every["id"])).text.splitlines()
    assert all_calls[:2] == [
        "Parameters:TimeZone=+0900",
        "Google Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time,Conversion Value,"
        "Conversion Currency",
    ]
    assert all_calls[2:] == [
        "Cj0KCQ-test-gclid,,,電話,2026-11-10 10:02:30,1000,JPY",
        ",,wbraid-ios-1,電話,2026-11-12 09:03:00,1000,JPY",
        "Cj0KCQ-test-gclid,,,電話,2026-11-12 09:30:00,1000,JPY",
    ]
    good = (await _export(client, w, qualified["id"])).text.splitlines()[2:]
    assert good == [
        "Cj0KCQ-test-gclid,,,有効電話,2026-11-10 10:02:30,3000,JPY",
        ",,wbraid-ios-1,有効電話,2026-11-12 09:03:00,3000,JPY",
    ]
    # Each action sends a call once; the 80-second calls never reach the 90-second action.
    again = await _export(client, w, every["id"])
    assert again.headers["x-callpath-conversions"] == "0"
    assert (await _export(client, w, long_calls["id"])).headers["x-callpath-conversions"] == "0"
    # The site's default conversion (its settings) is a ledger of its own: still sends all.
    default = await client.post(
        "/api/exports/conversions/google", params=NOVEMBER, headers=w.auth()
    )
    assert int(default.headers["x-callpath-conversions"]) >= 2


async def test_google_restate_then_retract_round_trip(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    action = await _action(
        client, w, platform="google", name="有効電話", value_from="call", value="3000"
    )
    await _export(client, w, action["id"])
    nothing = await _adjust(client, w, action["id"])
    assert nothing.headers["x-callpath-conversions"] == "0"
    await _work(client, w, "google", value_yen=12000)
    restated = await _adjust(client, w, action["id"])
    lines = restated.text.splitlines()
    assert lines[0] == "Parameters:TimeZone=+0900"
    assert lines[1] == (
        "Google Click ID,Conversion Name,Conversion Time,Adjustment Time,Adjustment Type,"
        "Adjusted Value,Adjusted Value Currency"
    )
    (row,) = lines[2:]
    click, name, when, _adjusted_at, kind, value, currency = row.split(",")
    assert (click, name, when, kind, value, currency) == (
        "Cj0KCQ-test-gclid",
        "有効電話",
        "2026-11-10 10:02:30",
        "RESTATE",
        "12000",
        "JPY",
    )
    # Written once: no change, no row.
    assert (await _adjust(client, w, action["id"])).headers["x-callpath-conversions"] == "0"
    await _work(client, w, "google", qualified=False, qualified_reason="営業電話")
    retracted = (await _adjust(client, w, action["id"])).text.splitlines()[2:]
    assert [r.split(",")[4] for r in retracted] == ["RETRACT"]
    assert retracted[0].split(",")[5:] == ["", ""]
    # A retracted conversion is never adjusted again, whatever happens to the call.
    await _work(client, w, "google", qualified=True, qualified_reason="戻し", value_yen=20000)
    assert (await _adjust(client, w, action["id"])).headers["x-callpath-conversions"] == "0"
    # ...and never sent again as a new conversion either.
    assert (await _export(client, w, action["id"])).headers["x-callpath-conversions"] == "0"


async def test_yahoo_restate_then_retract_round_trip(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    w = world
    action = await _action(
        client, w, platform="yahoo", name="有効電話", value_from="call", value="5000"
    )
    sent = await _export(client, w, action["id"])
    assert sent.content.decode("cp932").splitlines() == [
        "YCLID,コンバージョン名,コンバージョン発生日時,1コンバージョンあたりの価値,通貨コード",
        "YSS.1000000001.EAIaIQ-test,有効電話,20261112 000509,5000,JPY",
    ]
    await _work(client, w, "yahoo", value_yen=8000)
    restated = await _adjust(client, w, action["id"])
    assert restated.headers["content-type"] == "text/csv; charset=shift_jis"
    text = restated.content.decode("cp932").splitlines()
    assert text[0] == (
        "YCLID,コンバージョン名,コンバージョン発生日時,調整タイプ,調整日時,"
        "調整後の1コンバージョンあたりの価値,通貨コード"
    )
    fields = text[1].split(",")
    assert fields[:4] == ["YSS.1000000001.EAIaIQ-test", "有効電話", "20261112 000509", "修正"]
    assert fields[5:] == ["8000", "JPY"]
    await _work(client, w, "yahoo", qualified=False, qualified_reason="いたずら")
    retract = (await _adjust(client, w, action["id"])).content.decode("cp932").splitlines()
    assert retract[1].split(",")[3] == "削除"
    assert (await _adjust(client, w, action["id"])).headers["x-callpath-conversions"] == "0"
    audit = await db.fetchall(
        "SELECT kind, value_before, value_after FROM conversion_adjustments ORDER BY id"
    )
    assert [tuple(r.values()) for r in audit] == [
        ("restate", "5000", "8000"),
        ("retract", "8000", ""),
    ]
    # Every file is kept as a batch: listed and downloadable again.
    batches = await client.get("/api/conversions/batches", headers=w.auth())
    assert len(batches.json()["data"]) == 3


async def test_a_feed_gives_new_rows_once_and_a_revoked_feed_answers_404(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    w = world
    action = await _action(client, w, platform="google", name="電話", qualified_only=False)
    made = await client.post(
        f"/api/conversion-actions/{action['id']}/feeds",
        json={"label": "Google scheduled import"},
        headers=w.auth(),
    )
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert url.startswith("http://testserver/feeds/conversions/") and url.endswith(".csv")
    path = url.removeprefix("http://testserver")
    # A feed looks back 90 days from now: bring the world's November calls within them.
    age = now_ms() - jst_ms(2026, 11, 14)
    await db.execute("UPDATE calls SET started_ms = started_ms + :age", {"age": age})
    first = await client.get(path)
    assert first.status_code == 200, first.text
    assert first.headers["x-callpath-conversions"] == "3"
    second = await client.get(path)
    assert second.headers["x-callpath-conversions"] == "0"
    assert second.text.splitlines()[1].startswith("Google Click ID")
    # Another feed of the same action is another fetcher: it gets every row once too.
    other = await client.post(f"/api/conversion-actions/{action['id']}/feeds", headers=w.auth())
    other_path = other.json()["url"].removeprefix("http://testserver")
    assert (await client.get(other_path)).headers["x-callpath-conversions"] == "3"
    listed = await client.get(f"/api/conversion-actions/{action['id']}/feeds", headers=w.auth())
    assert [f["last_fetch_ms"] is not None for f in listed.json()["data"]] == [True, True]
    secret = path.removeprefix("/feeds/conversions/").removesuffix(".csv")
    assert secret not in listed.text  # shown once, when made; only its digest is kept
    feed_id = made.json()["feed"]["id"]
    # The other advertiser's member can neither see nor revoke it.
    member = w.auth(w.member_token)
    assert (
        await client.get(f"/api/conversion-actions/{action['id']}/feeds", headers=member)
    ).status_code == 404
    assert (
        await client.post(f"/api/conversion-feeds/{feed_id}/revoke", headers=member)
    ).status_code == 404
    revoked = await client.post(f"/api/conversion-feeds/{feed_id}/revoke", headers=w.auth())
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    gone = await client.get(path)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert (await client.get("/feeds/conversions/not-a-real-token-at-all.csv")).status_code == 404
    assert (await client.get("/feeds/conversions/x.csv")).status_code == 404


async def test_bad_actions_are_refused_with_the_field(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    url = f"/api/sites/{w.site_id}/conversion-actions"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"platform": "linkedin", "name": "x"}, "platform"),
        ({"platform": "google"}, "name"),
        ({"platform": "google", "name": "=cmd"}, "name"),
        ({"platform": "google", "name": "x", "value": "1e3"}, "value"),
        ({"platform": "google", "name": "x", "value_from": "magic"}, "value_from"),
        ({"platform": "google", "name": "x", "min_talk_s": -1}, "min_talk_s"),
        ({"platform": "google", "name": "x", "min_talk_s": "30"}, "min_talk_s"),
        ({"platform": "google", "name": "x", "outcome_id": 999999}, "outcome_id"),
        ({"platform": "google", "name": "x", "target_id": 999999}, "target_id"),
        ({"platform": "yahoo", "name": "電話🙂"}, "name"),
        ({"platform": "google", "name": "x", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        refused = await client.post(url, json=body, headers=w.auth())
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"].get("field") == field, (body, refused.json())
    await _action(client, w, platform="google", name="電話")
    twice = await client.post(url, json={"platform": "google", "name": "電話"}, headers=w.auth())
    assert twice.status_code == 422 and twice.json()["error"]["field"] == "name"
    # Another advertiser's site is not found, for actions as for everything else.
    other = await client.post(
        f"/api/sites/{w.site_id}/conversion-actions",
        json={"platform": "google", "name": "y"},
        headers=w.auth(w.member_token),
    )
    assert other.status_code == 404


async def test_an_action_valued_by_outcome_sends_the_outcome_value(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    made = await client.post(
        "/api/outcomes",
        params={"advertiser_id": w.advertiser_id},
        json={"label": "予約", "kind": "won", "value_yen": 30000},
        headers=w.auth(),
    )
    assert made.status_code == 201, made.text
    assert made.json()["value_yen"] == 30000
    won = await _action(
        client,
        w,
        platform="google",
        name="成約",
        outcome_kind="won",
        value_from="outcome",
        value="1",
    )
    assert (await _export(client, w, won["id"])).headers["x-callpath-conversions"] == "0"
    await _work(client, w, "google", outcome_id=made.json()["id"])
    rows = (await _export(client, w, won["id"])).text.splitlines()[2:]
    assert rows == ["Cj0KCQ-test-gclid,成約,2026-11-10 10:02:30,30000,JPY"]
    # The outcome's worth changes: the conversion is restated.
    changed = await client.patch(
        f"/api/outcomes/{made.json()['id']}",
        params={"advertiser_id": w.advertiser_id},
        json={"value_yen": 45000},
        headers=w.auth(),
    )
    assert changed.status_code == 200 and changed.json()["value_yen"] == 45000
    restated = (await _adjust(client, w, won["id"])).text.splitlines()[2:]
    assert [r.split(",")[4:6] for r in restated] == [["RESTATE", "45000"]]
    bad = await client.patch(
        f"/api/outcomes/{made.json()['id']}",
        params={"advertiser_id": w.advertiser_id},
        json={"value_yen": -1},
        headers=w.auth(),
    )
    assert bad.status_code == 422
    theirs = await client.patch(
        f"/api/outcomes/{made.json()['id']}",
        json={"value_yen": 1},
        headers=w.auth(w.member_token),
    )
    assert theirs.status_code == 404
