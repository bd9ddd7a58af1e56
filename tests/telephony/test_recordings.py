"""Recordings kept by callpath (issue #22): fetched from the Twilio stand-in once, retried,
stored in a local folder or an S3-compatible bucket, transcribed, and the rules applied."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from attribution.transcripts import search_calls
from backend.recordings import fetch, jobs, media
from backend.recordings.storage import LocalStorage, S3Storage
from backend.settings import Settings
from pool.store import now_ms
from tests.support.twilio import TwilioRest
from tests.telephony.conftest import ACCOUNT, call_params, post_twilio


@pytest.fixture
def settings(settings: Settings, rest: TwilioRest, tmp_path: Path) -> Settings:
    """Recordings fetched from the stand-in into a folder of the test, transcribed by
    PocketSphinx; the background round is off (the tests run it)."""
    return settings.replace(
        twilio_account_sid=ACCOUNT,
        twilio_api_url=rest.url,
        recording_dir=str(tmp_path / "recordings"),
        recording_jobs_seconds=0,
        transcription_engine="pocketsphinx",
        recording_fetch_attempts=3,
    )


async def _recorded_call(
    tclient: httpx.AsyncClient, telephony: Any, url: str, sid: str = "RE1", call: str = "CA900"
) -> None:
    """A call through the voice webhook, then its recording callback."""
    await post_twilio(tclient, "/twilio/voice", call_params(sid=call))
    params = call_params(
        sid=call,
        RecordingSid=sid,
        RecordingUrl=url,
        RecordingStatus="completed",
        RecordingChannels="2",
        RecordingDuration="5",
    )
    assert (await post_twilio(tclient, "/twilio/recording", params)).status_code == 200
    assert await telephony.recorder.drain(10)


async def _rule(db: Any, phrase: str, tag: str) -> int:
    """A rule of the call's advertiser: ``phrase`` → its 'won' outcome and ``tag``."""
    row = await db.fetchone(
        "SELECT o.id, o.advertiser_id FROM call_outcomes o JOIN calls c"
        " ON c.advertiser_id = o.advertiser_id WHERE o.kind = 'won'"
    )
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO transcript_rules (advertiser_id, phrase, outcome_id, tag, created_ms)"
            " VALUES (:a, :p, :o, :t, 0)",
            {"a": row["advertiser_id"], "p": phrase, "o": row["id"], "t": tag},
        )
    return int(row["id"])


async def _recorded(
    app: Starlette,
    tclient: httpx.AsyncClient,
    telephony: Any,
    rest: TwilioRest,
    spoken: bytes,
    sid: str,
) -> Any:
    """The recording ``sid`` at the Twilio stand-in, its call's callback sent; the app's
    recordings service."""
    await _recorded_call(tclient, telephony, rest.add_recording(sid, spoken), sid=sid)
    return app.state.recordings


async def test_a_recording_is_fetched_once_stored_transcribed_and_its_rule_applied(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    spoken: bytes, settings: Settings,
) -> None:  # fmt: skip
    url = rest.add_recording("RE1", spoken)
    await _recorded_call(tclient, telephony, url)
    # The same callback again (Twilio retries) queues nothing more.
    await _recorded_call(tclient, telephony, url)
    await db.execute("UPDATE calls SET outcome_id = NULL")
    won = await _rule(db, "ＴＯＭＯＲＲＯＷ  morning", "booking")  # width and spaces folded

    assert await app.state.recordings.work(db) == (1, 1, 0)
    assert await app.state.recordings.work(db) == (0, 0, 0)  # never fetched twice
    assert rest.requests == [url[len(rest.url) :] + ".wav"]

    rec = dict(await db.fetchone("SELECT * FROM recordings"))
    assert (rec["status"], rec["storage"], rec["channels"]) == ("stored", "local", 2)
    assert 4000 < rec["duration_ms"] < 8000
    folder = Path(settings.recording_dir)
    assert (folder / rec["original_key"]).read_bytes() == spoken
    assert media.sniff((folder / rec["mp3_key"]).read_bytes()) == "mp3"

    lines = await db.fetchall(
        "SELECT channel, start_ms, end_ms, text FROM transcript_lines ORDER BY start_ms, channel"
    )
    assert {r["channel"] for r in lines} == {0, 1}  # both sides, each on its own
    assert all(r["end_ms"] > r["start_ms"] for r in lines)
    said = " ".join(r["text"] for r in lines)
    assert "tomorrow morning" in said

    call = await db.fetchone("SELECT id, outcome_id, outcome_suggested_id FROM calls")
    assert call["outcome_id"] == won and call["outcome_suggested_id"] == won
    tags = await db.fetchall("SELECT tag FROM call_tags WHERE call_id = :c", {"c": call["id"]})
    assert [t["tag"] for t in tags] == ["booking"]
    audit = await db.fetchall("SELECT actor, field FROM call_audit WHERE call_id = :c",
                              {"c": call["id"]})  # fmt: skip
    assert {(a["actor"], a["field"]) for a in audit} == {("rules", "outcome_id"), ("rules", "tags")}
    assert await search_calls(db, "Tomorrow   MORNING") == [call["id"]]
    assert await search_calls(db, "tomorrow evening") == []


async def test_a_failed_fetch_is_retried_later_then_given_up(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    spoken: bytes,
) -> None:  # fmt: skip
    recs = await _recorded(app, tclient, telephony, rest, spoken, "RE2")
    rest.fail_next = 1
    now = now_ms()

    async def one(at: int) -> bool | None:
        return await fetch.fetch_one(
            db, recs.storage, recs.carrier, recs.client, now=at, attempts=3, transcribe=False
        )

    assert await one(now) is False
    row = await db.fetchone("SELECT status, attempts, next_try_ms, last_error FROM recordings")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "500" in row["last_error"] and row["next_try_ms"] == now + jobs.FIRST_WAIT_MS
    # Not before its time...
    assert await one(now + 1) is None
    # ...then it works.
    later = now + jobs.FIRST_WAIT_MS
    assert await one(later)
    assert await db.fetchval("SELECT status FROM recordings") == "stored"

    # A recording that keeps failing is marked failed after the install's tries.
    await _recorded_call(tclient, telephony, rest.recording_url("RE404"), sid="RE404", call="CA901")
    t = later
    for _ in range(3):
        t += 10**9
        assert await one(t) is False
    assert await db.fetchval("SELECT status FROM recordings WHERE source_sid = 'RE404'") == "failed"
    assert await one(t + 10**9) is None


async def test_a_stored_recording_is_deleted_at_the_carrier_when_asked(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    spoken: bytes,
) -> None:  # fmt: skip
    recs = await _recorded(app, tclient, telephony, rest, spoken, "RE5")
    carrier = dataclasses.replace(recs.carrier, delete_after=True)
    assert await fetch.fetch_one(db, recs.storage, carrier, recs.client, attempts=3,
                                 transcribe=False)  # fmt: skip
    path = rest.recording_url("RE5")[len(rest.url) :]
    assert rest.requests == [path + ".wav", "DELETE " + path + ".json"]
    assert rest.media == {}
    row = await db.fetchone("SELECT status, last_error FROM recordings")
    assert (row["status"], row["last_error"]) == ("stored", "")


async def test_credentials_go_only_to_the_configured_twilio_api(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
) -> None:  # fmt: skip
    # A callback naming another host (a forged or misrouted one) is never fetched with them.
    await _recorded_call(tclient, telephony, "http://127.0.0.2:9/2010-04-01/Recordings/RE9", "RE9")
    assert await app.state.recordings.work(db) == (0, 0, 0)
    row = await db.fetchone("SELECT status, last_error FROM recordings")
    assert row["status"] == "pending" and "configured Twilio API" in row["last_error"]
    assert rest.requests == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_recordings_kept_in_an_s3_compatible_bucket(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest, spoken: bytes,
    settings: Settings,
) -> None:  # fmt: skip
    """A real S3-compatible server (moto's) on a loopback port: the fetch stores into it,
    then get and delete."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = settings.replace(
            recording_storage="s3",
            recording_s3_endpoint=f"http://127.0.0.1:{port}",
            recording_s3_bucket="calls",
            recording_s3_access_key="test",
            recording_s3_secret_key="test",
        )
        storage = S3Storage.from_settings(s3)
        storage.client.create_bucket(Bucket="calls")
        await _recorded_call(tclient, telephony, rest.add_recording("RE3", spoken), sid="RE3")
        carrier = fetch.Carrier.from_settings(s3)
        assert carrier is not None
        async with httpx.AsyncClient() as client:
            assert await fetch.fetch_one(db, storage, carrier, client, attempts=3,
                                         transcribe=False)  # fmt: skip
        row = await db.fetchone("SELECT storage, original_key, mp3_key FROM recordings")
        assert row["storage"] == "s3"
        assert await storage.get(row["original_key"]) == spoken
        assert media.sniff(await storage.get(row["mp3_key"])) == "mp3"
        await storage.put("calls/1/RE1.wav", spoken, "audio/wav")
        assert await storage.get("calls/1/RE1.wav") == spoken
        await storage.delete("calls/1/RE1.wav")
        with pytest.raises(FileNotFoundError):
            await storage.get("calls/1/RE1.wav")
    finally:
        server.stop()


async def test_local_storage_refuses_keys_that_leave_its_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "r")
    for key in ("../x.wav", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(ValueError):
            await storage.put(key, b"x", "audio/wav")
