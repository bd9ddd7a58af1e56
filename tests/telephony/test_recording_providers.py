"""Call analysis through providers (issue #22): an OpenAI-compatible speech API, faster-whisper
from a model folder, and summaries with a suggested outcome from a chat completions API.

The APIs are :class:`tests.support.openai_api.OpenAIStandIn` on a loopback port, which
checks requests like OpenAI's reference and really transcribes what it is sent (with the
packaged engine) unless a test tells it what it heard."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from attribution.exports import ExportFilter, stream_paths
from backend import accounts
from backend.recordings import jobs
from backend.recordings.summary import summarise_one
from backend.recordings.whisper import FasterWhisper
from backend.recordings.worker import Recordings
from backend.settings import Settings
from pool.store import now_ms
from tests.dashboard.conftest import login
from tests.support.openai_api import OpenAIStandIn
from tests.support.twilio import TwilioRest
from tests.telephony.conftest import ACCOUNT, BUSINESS_SAYS, CALLER_SAYS
from tests.telephony.test_recordings import _recorded_call, _rule

KEY = "sk-test-" + "k" * 24
CARD = "4242 4242 4242 4242"
CHAT = "/v1/chat/completions"


@pytest.fixture
def api() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(KEY) as server:
        yield server


@pytest.fixture
def settings(settings: Settings, rest: TwilioRest, api: OpenAIStandIn, tmp_path: Path) -> Settings:
    """Recordings fetched from the Twilio stand-in, transcribed by the speech API stand-in
    and summarised by its chat completions; the background round is off."""
    return settings.replace(
        twilio_account_sid=ACCOUNT,
        twilio_api_url=rest.url,
        recording_dir=str(tmp_path / "recordings"),
        recording_jobs_seconds=0,
        recording_fetch_attempts=2,
        transcription_engine="openai",
        transcription_api_url=api.url,
        transcription_api_key=KEY,
        summary_engine="openai",
        summary_api_url=api.url,
        summary_api_key=KEY,
        summary_model="summary-model",
        summary_timeout_seconds=2,
    )


def _channels(mp3: bytes) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=channels", "-of", "csv=p=0",
         "-i", "pipe:0"],
        input=mp3, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip())


async def _outcome(db: Any, kind: str) -> int:
    return int(
        await db.fetchval(
            "SELECT o.id FROM call_outcomes o JOIN calls c ON c.advertiser_id = o.advertiser_id"
            " WHERE o.kind = :k",
            {"k": kind},
        )
    )


def _values(rows: Any) -> list[tuple[Any, ...]]:
    return [tuple(dict(r).values()) for r in rows]


def _said(reply: dict[str, Any]) -> Any:
    """A chat reply whose content is ``reply`` as JSON."""
    return lambda body: json.dumps(reply, ensure_ascii=False)


async def test_the_speech_api_hears_each_channel_and_gives_speaker_turns(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    await db.execute("UPDATE calls SET outcome_id = NULL")
    won = await _rule(db, "tomorrow morning", "booking")
    api.reply = _said({"language": "en", "summary": "A booking.", "outcome_id": None})

    assert await app.state.recordings.work(db) == (1, 1, 1)

    speech = [r for r in api.requests if r.path == "/v1/audio/transcriptions"]
    assert len(speech) == 2  # one request per side of the call
    for i, r in enumerate(speech):
        assert r.headers["authorization"] == f"Bearer {KEY}"
        assert r.headers["content-type"].startswith("multipart/form-data")
        assert r.form == {"model": "whisper-1", "response_format": "verbose_json",
                          "timestamp_granularities[]": "segment", "temperature": "0"}  # fmt: skip
        assert r.file_name == f"channel-{i}.mp3" and _channels(r.file) == 1
    lines = await db.fetchall(
        "SELECT channel, start_ms, end_ms, text FROM transcript_lines ORDER BY channel, start_ms"
    )
    # What the API heard in request i is channel i's lines, its segments' times in ms.
    assert _values(lines) == [
        (i, round(s * 1000), round(e * 1000), t) for i, said in enumerate(api.heard)
        for s, e, t in said
    ]  # fmt: skip
    caller = " ".join(x["text"] for x in lines if x["channel"] == 0)
    business = " ".join(x["text"] for x in lines if x["channel"] == 1)
    # Each side heard on its own: the caller's words on channel 0, the business's on 1.
    # PocketSphinx is rough on phone audio and does not hear the same words every run, so
    # each side is checked by the words only one of the two speakers says.
    assert _leans_to(caller, CALLER_SAYS, BUSINESS_SAYS)
    assert _leans_to(business, BUSINESS_SAYS, CALLER_SAYS)
    assert "tomorrow" in caller and "tomorrow" in business
    rec = await db.fetchone("SELECT transcript_engine, transcript_language FROM recordings")
    assert (rec["transcript_engine"], rec["transcript_language"]) == ("openai", "english")
    call = await db.fetchone("SELECT outcome_id, outcome_suggested_by FROM calls")
    assert (call["outcome_id"], call["outcome_suggested_by"]) == (won, "rules")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _leans_to(heard: str, said: str, other: str) -> bool:
    """Whether ``heard`` holds more of the words only ``said`` has than of those only
    ``other`` has."""
    own, others = _words(said) - _words(other), _words(other) - _words(said)
    words = _words(heard)
    return len(words & own) > len(words & others)


async def test_the_speech_api_refusing_the_key_is_kept_as_the_reason_without_the_key(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    api.api_key = "sk-another"
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    assert await app.state.recordings.work(db) == (1, 0, 0)
    rec = await db.fetchone("SELECT transcript_status, transcript_error FROM recordings")
    assert rec["transcript_status"] == "pending"
    assert "401" in rec["transcript_error"] and "Incorrect API key" in rec["transcript_error"]
    assert KEY not in rec["transcript_error"]


async def test_the_speech_api_is_waited_for_after_429_and_checked_answers(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    api.then(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"})
    api.segments = [[(0.5, 2.0, f"my card is {CARD}")], [(2.5, 3.0, "thanks")]]
    api.reply = _said({"language": "en", "summary": "Card given.", "outcome_id": None})
    assert await app.state.recordings.work(db) == (1, 1, 1)
    assert api.paths().count("/v1/audio/transcriptions") == 3  # the 429, then both sides
    lines = await db.fetchall("SELECT channel, start_ms, end_ms, text FROM transcript_lines"
                              " ORDER BY start_ms")  # fmt: skip
    assert _values(lines) == [(0, 500, 2000, "my card is [number]"),
                                         (1, 2500, 3000, "thanks")]  # fmt: skip
    chat = next(r for r in api.requests if r.path == "/v1/chat/completions")
    assert "4242" not in json.dumps(chat.body) and "[number]" in json.dumps(chat.body)


async def test_a_malformed_transcription_is_an_error_tried_again(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    api.then(200, {"segments": [{"start": "soon", "end": 1, "text": "hi"}]})
    assert await app.state.recordings.work(db) == (1, 0, 0)
    rec = await db.fetchone("SELECT transcript_status, transcript_error FROM recordings")
    assert rec["transcript_status"] == "pending"
    assert "not a time in seconds" in rec["transcript_error"]
    assert await db.fetchval("SELECT COUNT(*) FROM transcript_lines") == 0


async def test_the_summary_suggests_an_outcome_a_persons_choice_wins_and_both_are_kept(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes, client: httpx.AsyncClient,
) -> None:  # fmt: skip
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    lost = await _outcome(db, "lost")
    won = await _outcome(db, "won")
    await db.execute("UPDATE calls SET outcome_id = :o", {"o": lost})  # a person's choice
    api.segments = [[(0.0, 2.0, "予約をお願いします。カードは4242424242424242です")],
                    [(2.0, 3.0, "明日の十時で承りました")]]  # fmt: skip
    api.reply = _said({
        "language": "ja", "summary": "明日10時の予約。カード 4111 1111 1111 1111 を伝えた。",
        "outcome_id": won, "reason": "予約が成立したため",
    })  # fmt: skip
    assert await app.state.recordings.work(db) == (1, 1, 1)

    chat = next(r for r in api.requests if r.path == "/v1/chat/completions")
    assert chat.headers["authorization"] == f"Bearer {KEY}"
    assert chat.body["model"] == "summary-model"
    assert chat.body["response_format"] == {"type": "json_object"}
    question = json.loads(chat.body["messages"][1]["content"])
    assert {o["id"] for o in question["outcomes"]} >= {won, lost}
    assert "Caller: 予約をお願いします。カードは[number]です" in question["transcript"]
    assert "Business: 明日の十時で承りました" in question["transcript"]
    assert "4242" not in json.dumps(chat.body, ensure_ascii=False)

    rec = await db.fetchone("SELECT * FROM recordings")
    assert rec["summary_status"] == "done" and rec["summary_model"] == "summary-model"
    assert rec["summary_text"] == "明日10時の予約。カード [number] を伝えた。"
    assert (rec["summary_language"], rec["summary_outcome_id"]) == ("ja", won)
    call = await db.fetchone("SELECT * FROM calls")
    # The person's outcome stays; the model's is kept as the suggestion, with its reason.
    assert call["outcome_id"] == lost
    assert (call["outcome_suggested_id"], call["outcome_suggested_by"]) == (won, "model")
    assert call["outcome_suggested_reason"] == "予約が成立したため"
    audit = await db.fetchall("SELECT actor FROM call_audit WHERE call_id = :c", {"c": call["id"]})
    assert "model" not in {a["actor"] for a in audit}

    async with db.write() as tx:
        user = await accounts.create_user(
            tx,
            email="listener@example.com",
            password="pw-listener-1",
            advertiser_id=call["advertiser_id"],
            now_ms=0,
        )
        await accounts.set_hears_recordings(tx, user_id=user, allowed=True)
        token = await accounts.create_api_token(tx, user_id=user, now_ms=0, name="t",
                                                advertiser_id=call["advertiser_id"],
                                                can_hear_recordings=True)  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    work = (await client.get(f"/api/calls/{call['id']}/work", headers=auth)).json()
    assert (work["outcome_id"], work["outcome_suggested_id"]) == (lost, won)
    assert work["outcome_suggested_by"] == "model"
    recs = (await client.get(f"/api/calls/{call['id']}/recordings", headers=auth)).json()["data"]
    assert recs[0]["summary"] == {
        "status": "done", "text": rec["summary_text"], "language": "ja", "outcome_id": won,
        "reason": "予約が成立したため", "model": "summary-model",
    }  # fmt: skip

    # The call page shows the summary beside the transcript, and whose suggestion it is.
    await login(client, "listener@example.com", "pw-listener-1")
    page = await client.get(f"/dashboard/calls/{call['id']}", headers={"Accept-Language": "ja"})
    assert page.status_code == 200
    summary = page.text[page.text.index(f'id="summary-{rec["id"]}"') :]
    assert summary.startswith(f'id="summary-{rec["id"]}" lang="ja">')
    assert "明日10時の予約。カード [number] を伝えた。" in summary
    assert "言語モデルの判定: 成約 — 予約が成立したため" in summary
    assert "言語モデルによる提案: 成約 予約が成立したため" in page.text


async def test_the_models_outcome_fills_an_empty_one_and_a_rules_suggestion_stays(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    await _recorded_call(tclient, telephony, rest.add_recording("RE2", spoken), "RE2", "CA901")
    await db.execute("UPDATE calls SET outcome_id = NULL")
    won = await _rule(db, "booking please", "")
    lost = await _outcome(db, "lost")
    # Call 1: no rule matches, the model's outcome fills the empty one (audited "model").
    # Call 2: a rule suggested "won"; the model's "lost" is kept on the recording only.
    api.segments = [[(0, 1, "just asking")], [(1, 2, "ok")],
                    [(0, 1, "booking please")], [(1, 2, "done")]]  # fmt: skip
    api.reply = _said({"language": "en", "summary": "s", "outcome_id": lost, "reason": "r"})
    assert await app.state.recordings.work(db) == (2, 2, 2)
    calls = await db.fetchall(
        "SELECT c.id, c.outcome_id, c.outcome_suggested_id, c.outcome_suggested_by,"
        " r.summary_outcome_id FROM calls c JOIN recordings r ON r.call_id = c.id ORDER BY c.id"
    )
    assert [v[1:] for v in _values(calls)] == [(lost, lost, "model", lost),
                                            (won, won, "rules", lost)]  # fmt: skip
    audit = await db.fetchall(
        "SELECT actor, field, after FROM call_audit WHERE call_id = :c", {"c": calls[0]["id"]}
    )
    assert _values(audit) == [("model", "outcome_id", str(lost))]
    # Exports carry the suggestion beside the outcome, and whose it is.
    every = ExportFilter(start_ms=0, end_ms=now_ms() + 1)
    chunks = [c async for c in stream_paths(db, every)]
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [(r["outcome"], r["outcome_suggested"], r["outcome_suggested_by"]) for r in rows] == [
        ("lost", "lost", "model"), ("won", "won", "rules")
    ]  # fmt: skip


async def _summary_fails(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes, answer: Any, status: int,
) -> None:  # fmt: skip
    """A call recorded and transcribed, whose first summary request gets ``answer``."""
    await _recorded_call(tclient, telephony, rest.add_recording("RE1", spoken))
    api.segments = [[(0, 1, "hello")], [(1, 2, "hi")]]
    api.then(status, answer, path=CHAT)
    assert await app.state.recordings.work(db) == (1, 1, 0)


async def test_summary_answers_that_are_malformed_slow_or_rate_limited(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    # No choice at all in the first answer.
    await _summary_fails(app, tclient, telephony, db, rest, api, spoken,
                         {"id": "x", "choices": []}, 200)  # fmt: skip
    summarise = app.state.recordings.summariser

    async def again(reply: Any = None, **canned: Any) -> dict[str, Any]:
        if canned:
            api.then(**canned)
        if reply is not None:
            api.reply = reply
        await db.execute("UPDATE recordings SET summary_next_ms = 0")
        await summarise_one(db, summarise, attempts=10)
        return dict(await db.fetchone("SELECT * FROM recordings"))

    rec = dict(await db.fetchone("SELECT * FROM recordings"))
    assert rec["summary_status"] == "pending" and "no choices" in rec["summary_error"]
    assert (await again(lambda body: "the call went well"))["summary_error"] == (
        "the answer's content is not a JSON object"
    )
    assert (await again(_said({"summary": "   "})))["summary_error"] == "the answer has no summary"
    slow = await again(status=200, body={}, delay_s=3)  # past summary_timeout_seconds (2)
    assert "no answer within 2 s" in slow["summary_error"]
    # Three 429s in a row end the try, with the answer's message kept.
    for _ in range(2):
        api.then(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"})
    rec = await again(status=429, body={"error": {"message": "Rate limit reached"}},
                      headers={"Retry-After": "0"})  # fmt: skip
    assert rec["summary_status"] == "pending"
    assert "429" in rec["summary_error"] and "Rate limit reached" in rec["summary_error"]
    # A 429 then an answer: waited for within the same try. An outcome not in the list is
    # dropped, the summary kept.
    rec = await again(_said({"summary": "fine", "outcome_id": 999999, "reason": "r"}),
                      status=429, body={}, headers={"Retry-After": "0"})  # fmt: skip
    assert (rec["summary_status"], rec["summary_text"], rec["summary_outcome_id"]) == (
        "done",
        "fine",
        None,
    )
    assert rec["summary_error"] == ""
    assert await db.fetchval("SELECT outcome_suggested_by FROM calls") == ""
    assert api.paths().count(CHAT) == 9


async def test_a_summary_is_given_up_after_its_tries(
    app: Starlette, tclient: httpx.AsyncClient, telephony: Any, db: Any, rest: TwilioRest,
    api: OpenAIStandIn, spoken: bytes,
) -> None:  # fmt: skip
    await _summary_fails(app, tclient, telephony, db, rest, api, spoken,
                         {"error": {"message": "The server had an error"}}, 500)  # fmt: skip
    api.then(500, {"error": {"message": "The server had an error"}})
    await db.execute("UPDATE recordings SET summary_next_ms = 0")
    assert await summarise_one(db, app.state.recordings.summariser, attempts=2) is False
    rec = await db.fetchone("SELECT summary_status, summary_attempts FROM recordings")
    assert (rec["summary_status"], rec["summary_attempts"]) == ("failed", 2)
    assert (
        await db.fetchval(
            "SELECT COUNT(*) FROM recordings WHERE summary_status = :s", {"s": jobs.SUMMARISE.ready}
        )
        == 0
    )


def test_start_up_names_what_a_provider_is_missing(tmp_path: Path) -> None:
    def start(**environ: str) -> Recordings:
        env = {"CALLPATH_" + k.upper(): v for k, v in environ.items()}
        return Recordings.from_settings(Settings.load(env))

    with pytest.raises(ValueError, match="CALLPATH_TRANSCRIPTION_API_URL"):
        start(transcription_engine="openai")
    with pytest.raises(ValueError, match="CALLPATH_SUMMARY_MODEL"):
        start(summary_engine="openai", summary_api_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="CALLPATH_SUMMARY_API_URL"):
        start(summary_engine="openai", summary_model="m", summary_api_url="ftp://example")
    with pytest.raises(ValueError, match="needs a model folder"):
        start(transcription_engine="faster-whisper")
    folder = {"transcription_engine": "faster-whisper", "transcription_model_dir": str(tmp_path)}
    with pytest.raises(ValueError, match="no folder"):
        start(**{**folder, "transcription_model_dir": str(tmp_path / "none")})
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"missing config\.json, tokenizer\.json"):
        start(**folder)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert isinstance(start(**folder).engine, FasterWhisper)
    openai = start(transcription_engine="openai", transcription_api_url="http://127.0.0.1:9/v1")
    assert openai.engine is not None and openai.engine.name == "openai"


async def test_faster_whisper_refuses_a_broken_model_folder_when_loading_it_offline(
    tmp_path: Path, spoken: bytes,
) -> None:  # fmt: skip
    pytest.importorskip("faster_whisper")
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    engine = FasterWhisper(str(tmp_path))
    try:
        with pytest.raises(RuntimeError) as failed:
            await engine.transcribe(spoken, 2)
        assert str(tmp_path) in str(failed.value) or "model" in str(failed.value).lower()
    finally:
        engine.close()
