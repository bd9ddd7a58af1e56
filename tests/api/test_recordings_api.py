"""Hearing recordings (issue #22): only with the right, at links that expire."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from attribution import transcripts
from attribution.tokens import Signer
from backend import accounts
from backend.recordings import links, retention
from backend.services import RECORDING_LINK
from backend.settings import Settings
from pool.store import now_ms
from tests.api.conftest import World
from tests.dashboard.conftest import login

AUDIO = b"ID3" + bytes(range(256)) * 40  # what the storage holds; served as it is
PASSWORD = "pw-listener-1"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.replace(recording_dir=str(tmp_path / "recordings"), recording_jobs_seconds=0)


async def _stored(app: Starlette, db: Any, call_id: int) -> int:
    """A recording of the call as the fetch leaves it, with a transcript line."""
    key = f"calls/{call_id}/RE1.mp3"
    await app.state.recordings.storage.put(key, AUDIO, "audio/mpeg")
    async with db.write() as tx:
        rec = await tx.fetchval(
            "INSERT INTO recordings (call_id, source_sid, source_url, status, storage,"
            " original_key, original_type, mp3_key, duration_ms, channels, created_ms,"
            " stored_ms, transcript_status) VALUES (:c, 'RE1', 'x', 'stored', 'local', :k,"
            " 'audio/mpeg', :k, 5000, 2, 0, 0, 'done') RETURNING id",
            {"c": call_id, "k": key},
        )
        await tx.execute(
            "INSERT INTO transcript_lines (recording_id, call_id, channel, start_ms, end_ms,"
            " text) VALUES (:r, :c, 1, 1200, 2500, 'tomorrow morning')",
            {"r": rec, "c": call_id},
        )
    return int(rec)


async def _member(db: Any, world: World, *, hears: bool, token_hears: bool = True) -> str:
    """A member of the demo advertiser and a token of theirs."""
    async with db.write() as tx:
        adv = await tx.fetchval("SELECT advertiser_id FROM calls WHERE id = :c",
                                {"c": world.calls["google"]})  # fmt: skip
        email = f"listener-{int(hears)}{int(token_hears)}@example.com"
        user = await accounts.create_user(
            tx, email=email, password=PASSWORD, advertiser_id=adv, now_ms=0
        )
        await accounts.set_hears_recordings(tx, user_id=user, allowed=hears)
        return await accounts.create_api_token(
            tx, user_id=user, advertiser_id=adv, name="t", now_ms=0,
            can_hear_recordings=token_hears,
        )  # fmt: skip


async def test_only_tokens_with_the_right_get_links_and_links_play(
    app: Starlette, client: httpx.AsyncClient, world: World, db: Any
) -> None:
    call = world.calls["google"]
    await _stored(app, db, call)
    path = f"/api/calls/{call}/recordings"
    # The admin's demo token was not given the right; a member without it is refused even
    # with a token that says so; a member of another advertiser does not see the call.
    for token in (world.admin_token, await _member(db, world, hears=False)):
        r = await client.get(path, headers=world.auth(token))
        assert r.status_code == 403, r.text
    other = await client.get(path, headers=world.auth(world.member_token))
    assert other.status_code == 404

    listener = await _member(db, world, hears=True)
    r = await client.get(path, headers=world.auth(listener))
    assert r.status_code == 200, r.text
    [rec] = r.json()["data"]
    assert rec["channels"] == 2 and rec["format"] == "mp3"
    assert rec["transcript"] == [
        {"channel": 1, "start_ms": 1200, "end_ms": 2500, "text": "tomorrow morning"}
    ]
    played = await client.get(rec["play_url"])  # no token or cookie: the link is the right
    assert played.status_code == 200 and played.content == AUDIO
    assert played.headers["content-type"] == "audio/mpeg"
    assert played.headers["content-disposition"].startswith("inline")
    part = await client.get(rec["play_url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == AUDIO[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(AUDIO)}"
    down = await client.get(rec["download_url"])
    assert down.headers["content-disposition"].startswith("attachment")


async def test_expired_forged_and_foreign_links_are_refused(
    app: Starlette, client: httpx.AsyncClient, world: World, db: Any, settings: Settings
) -> None:
    rec = await _stored(app, db, world.calls["google"])
    signer = Signer(settings.secret_key, RECORDING_LINK)
    fresh = links.make(signer, rec, "mp3", download=False, expires_ms=now_ms() + 60_000)
    assert (await client.get(fresh)).status_code == 200
    expired = links.make(signer, rec, "mp3", download=False, expires_ms=now_ms() - 1)
    other_key = links.make(Signer("another-secret", RECORDING_LINK), rec, "mp3",
                           download=False, expires_ms=now_ms() + 60_000)  # fmt: skip
    wrong_purpose = "/recordings/" + Signer(settings.secret_key, "callpath.api.cursor").sign(
        {"r": rec, "f": "mp3", "d": 0, "e": now_ms() + 60_000}
    )
    for url in (expired, other_key, wrong_purpose, fresh[:-3] + "abc", "/recordings/" + "x" * 500):
        r = await client.get(url)
        assert r.status_code == 403, (url, r.text)
        assert AUDIO[:20] not in r.content
    assert links.read(signer, fresh.removeprefix(links.PATH), now_ms() + 61_000) is None


async def test_the_call_page_plays_for_members_with_the_right_only(
    app: Starlette, client: httpx.AsyncClient, world: World, db: Any
) -> None:
    call = world.calls["google"]
    await _stored(app, db, call)
    await _member(db, world, hears=False)
    await login(client, "listener-01@example.com", PASSWORD)
    page = (await client.get(f"/dashboard/calls/{call}")).text
    assert 'id="recording-withheld"' in page and "<audio" not in page
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=client.headers
    ) as other:
        await _member(db, world, hears=True)
        await login(other, "listener-11@example.com", PASSWORD)
        page = (await other.get(f"/dashboard/calls/{call}")).text
        src = re.search(r'<audio controls preload="metadata" src="([^"]+)"', page)
        assert src, page
        assert (await other.get(src.group(1).replace("&amp;", "&"))).content == AUDIO
        assert 'data-start="1.2"' in page and "tomorrow morning" in page


async def test_rules_are_kept_per_advertiser_and_transcripts_searched_in_scope(
    client: httpx.AsyncClient, world: World, db: Any
) -> None:
    call = world.calls["google"]
    adv = await db.fetchval("SELECT advertiser_id FROM calls WHERE id = :c", {"c": call})
    won = await db.fetchval(
        "SELECT id FROM call_outcomes WHERE advertiser_id = :a AND kind = 'won'", {"a": adv}
    )
    path = f"/api/transcript_rules?advertiser_id={adv}"
    made = await client.post(
        path, json={"phrase": "ヨヤク 明日", "outcome_id": won, "tag": "予約"}, headers=world.auth()
    )
    assert made.status_code == 201, made.text
    for body, field in (
        ({"phrase": ""}, "phrase"),
        ({"phrase": "x" * 101}, "phrase"),
        ({"phrase": "x"}, "outcome_id"),  # neither an outcome nor a tag
        ({"phrase": "x", "outcome_id": 999999}, "outcome_id"),
        ({"phrase": "x", "tag": 5}, "tag"),
        ({"phrase": "x", "sneaky": 1}, "sneaky"),
    ):
        r = await client.post(path, json=body, headers=world.auth())
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    listed = (await client.get(path, headers=world.auth())).json()["data"]
    assert [(r["phrase"], r["tag"]) for r in listed] == [("ヨヤク 明日", "予約")]
    # Another advertiser's token neither sees nor changes them.
    other = world.auth(world.member_token)
    assert (await client.get(path, headers=other)).status_code == 403
    assert (
        await client.delete(f"/api/transcript_rules/{listed[0]['id']}", headers=other)
    ).status_code == 404

    # A call whose transcript says it in other widths and kana: the rule applies, the
    # search finds it, within the token's scope only.
    async with db.write() as tx:
        text = await transcripts.store_transcript(
            tx, call_id=call, advertiser_id=adv, texts=["ﾖﾔｸは", "あした……明日で"], now_ms=0
        )
        await tx.execute("UPDATE calls SET outcome_id = NULL WHERE id = :c", {"c": call})
        hits = await transcripts.apply_rules(tx, call_id=call, normalised=text, now_ms=0)
    assert hits == []  # "よやくは あした" holds no "よやく 明日"
    async with db.write() as tx:
        text = await transcripts.store_transcript(
            tx, call_id=call, advertiser_id=adv, texts=["ﾖﾔｸ", "明日で"], now_ms=0
        )
        hits = await transcripts.apply_rules(tx, call_id=call, normalised=text, now_ms=0)
    assert [h.tag for h in hits] == ["予約"]
    assert await db.fetchval("SELECT outcome_id FROM calls WHERE id = :c", {"c": call}) == won
    # The search reads transcripts: only for a token that may hear recordings.
    listener = world.auth(await _member(db, world, hears=True))
    found = await client.get("/api/transcript_search?q=よやく", headers=listener)
    assert [r["call_id"] for r in found.json()["data"]] == [call]
    deaf = await client.get("/api/transcript_search?q=よやく", headers=world.auth())
    assert deaf.status_code == 403
    mine = await client.get("/api/transcript_search?q=よやく", headers=other)
    assert mine.status_code == 403  # the other advertiser's token may not hear either
    assert (await client.get("/api/transcript_search?q=", headers=listener)).status_code == 422
    gone = await client.delete(f"/api/transcript_rules/{listed[0]['id']}?advertiser_id={adv}",
                               headers=world.auth())  # fmt: skip
    assert gone.status_code == 204
    assert (await client.get(path, headers=world.auth())).json()["data"] == []


async def test_a_token_grants_hearing_only_when_it_may(
    client: httpx.AsyncClient, world: World, db: Any
) -> None:
    plain = await client.post("/api/tokens", json={"name": "x", "can_hear_recordings": True},
                              headers=world.auth())  # fmt: skip
    assert plain.status_code == 403  # the demo token was not given the right
    listener = await _member(db, world, hears=True)
    made = await client.post("/api/tokens", json={"name": "y", "can_hear_recordings": True},
                             headers=world.auth(listener))  # fmt: skip
    assert made.status_code == 201 and made.json()["can_hear_recordings"] is True
    bad = await client.post("/api/tokens", json={"name": "z", "can_hear_recordings": "yes"},
                            headers=world.auth(listener))  # fmt: skip
    assert bad.status_code == 422


async def test_retention_deletes_the_files_and_keeps_an_audit_entry(
    app: Starlette, client: httpx.AsyncClient, world: World, db: Any, settings: Settings
) -> None:
    call = world.calls["google"]
    await _stored(app, db, call)
    adv = await db.fetchval("SELECT advertiser_id FROM calls WHERE id = :c", {"c": call})
    started = await db.fetchval("SELECT started_ms FROM calls WHERE id = :c", {"c": call})
    path = f"/api/recording_retention?advertiser_id={adv}"
    for bad in ({"days": -1}, {"days": 4000}, {"days": "30"}, {"days": 30, "x": 1}):
        assert (await client.put(path, json=bad, headers=world.auth())).status_code == 422
    other = world.auth(world.member_token)
    assert (await client.put(path, json={"days": 1}, headers=other)).status_code == 403
    file = Path(settings.recording_dir) / f"calls/{call}/RE1.mp3"
    assert file.exists()
    # Kept (0), then 30 days: not yet past for a call 29 days old, past at 31.
    assert await retention.purge(db, app.state.recordings.storage, now=started) == 0
    r = await client.put(path, json={"days": 30}, headers=world.auth())
    assert r.json() == {"advertiser_id": adv, "days": 30}
    day = retention.DAY_MS
    storage = app.state.recordings.storage
    assert await retention.purge(db, storage, now=started + 29 * day) == 0
    assert await retention.purge(db, storage, now=started + 31 * day) == 1
    assert not file.exists()
    assert await db.fetchval("SELECT status FROM recordings") == "deleted"
    audit = await db.fetchone("SELECT actor, field, after FROM call_audit WHERE call_id = :c",
                              {"c": call})  # fmt: skip
    assert (audit["actor"], audit["field"], audit["after"]) == (
        "retention",
        "recording",
        "deleted after 30 days",
    )
    assert await retention.purge(db, storage, now=started + 40 * day) == 0  # once
    listener = await _member(db, world, hears=True)
    listed = await client.get(f"/api/calls/{call}/recordings", headers=world.auth(listener))
    assert listed.json()["data"] == []


async def test_a_persons_outcome_is_never_overwritten_by_the_rules(
    client: httpx.AsyncClient, world: World, db: Any
) -> None:
    call = world.calls["google"]
    adv = await db.fetchval("SELECT advertiser_id FROM calls WHERE id = :c", {"c": call})
    kinds = {
        r["kind"]: r["id"]
        for r in await db.fetchall(
            "SELECT id, kind FROM call_outcomes WHERE advertiser_id = :a", {"a": adv}
        )
    }
    r = await client.patch(f"/api/calls/{call}/work", json={"outcome_id": kinds["lost"]},
                           headers=world.auth())  # fmt: skip
    assert r.status_code == 200
    rule = {"phrase": "予約", "outcome_id": kinds["won"]}
    made = await client.post(
        f"/api/transcript_rules?advertiser_id={adv}", json=rule, headers=world.auth()
    )
    assert made.status_code == 201
    async with db.write() as tx:
        text = await transcripts.store_transcript(
            tx, call_id=call, advertiser_id=adv, texts=["予約します"], now_ms=0
        )
        await transcripts.apply_rules(tx, call_id=call, normalised=text, now_ms=0)
    row = await db.fetchone(
        "SELECT outcome_id, outcome_suggested_id, outcome_suggested_reason FROM calls"
        " WHERE id = :c",
        {"c": call},
    )
    # The person's 'lost' stays; the machine's 'won' is kept beside it, with why.
    assert (row["outcome_id"], row["outcome_suggested_id"]) == (kinds["lost"], kinds["won"])
    assert "予約" in row["outcome_suggested_reason"]
    work = (await client.get(f"/api/calls/{call}/work", headers=world.auth())).json()
    assert [a["actor"] for a in work["audit"] if a["field"] == "outcome_id"] == [
        a["actor"] for a in work["audit"] if a["actor"].startswith("user ")
    ]


async def test_a_rule_is_changed_in_place_over_the_api(
    client: httpx.AsyncClient, world: World, db: Any
) -> None:
    adv = await db.fetchval("SELECT advertiser_id FROM calls WHERE id = :c",
                            {"c": world.calls["google"]})  # fmt: skip
    path = f"/api/transcript_rules?advertiser_id={adv}"
    first = await client.post(path, json={"phrase": "予約", "tag": "a"}, headers=world.auth())
    second = await client.post(path, json={"phrase": "解約", "tag": "b"}, headers=world.auth())
    rule = first.json()
    one = f"/api/transcript_rules/{rule['id']}?advertiser_id={adv}"
    changed = await client.put(one, json={"phrase": "ご予約", "tag": "booking"},
                               headers=world.auth())  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert (changed.json()["phrase"], changed.json()["tag"]) == ("ご予約", "booking")
    listed = (await client.get(path, headers=world.auth())).json()["data"]
    assert [r["id"] for r in listed] == [rule["id"], second.json()["id"]]  # same place
    for body, field in (
        ({"phrase": ""}, "phrase"),
        ({"phrase": "x"}, "outcome_id"),
        ({"phrase": "x", "tag": "t", "position": 1}, "position"),
        ({"phrase": "x", "outcome_id": "1"}, "outcome_id"),
    ):
        r = await client.put(one, json=body, headers=world.auth())
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert (await client.put(one, content=b"{", headers=world.auth())).status_code in (400, 422)
    other = world.auth(world.member_token)
    assert (await client.put(one, json={"phrase": "x", "tag": "t"}, headers=other)).status_code in (
        403,
        404,
    )
    missing = f"/api/transcript_rules/999999?advertiser_id={adv}"
    r = await client.put(missing, json={"phrase": "x", "tag": "t"}, headers=world.auth())
    assert r.status_code == 404
    after = (await client.get(path, headers=world.auth())).json()["data"]
    assert after[0]["phrase"] == "ご予約"
