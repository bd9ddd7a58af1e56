"""Call flows through the Twilio stand-in (issue #18): hours with Japanese holidays,
sequential and round-robin ringing, menus, queue to voicemail, and the plain ``<Dial>``
that answers whatever goes wrong. Every document the flows write is checked against
Twilio's vocabulary by the stand-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from backend.telephony import flows, flowstore
from pool.scope import EVERYTHING
from tests.support.twilio import TwilioStandIn
from tests.telephony.conftest import AUTH_TOKEN, BASE, TARGET, TRACKING

CALLER = "+819012345678"
STAFF = ["+819011110001", "+819011110002", "+819011110003"]
TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo_ms(when: str) -> int:
    """Epoch ms of a wall-clock time in Tokyo (``2026-11-03T20:00``)."""
    return int(datetime.fromisoformat(when).replace(tzinfo=TOKYO).timestamp() * 1000)


async def target_id(db: Any, number: str = TARGET) -> int:
    """The demo's target the tracking number forwards to."""
    return int(await db.fetchval("SELECT MIN(id) FROM targets WHERE number = :n", {"n": number}))


async def set_flow(db: Any, telephony: Any, flow: dict[str, Any]) -> int:
    """Store ``flow`` for the demo's target and load it into the routing table."""
    target = await target_id(db)
    await flowstore.save(db, EVERYTHING, target, flow, author="test")
    await telephony.table.load()
    return target


async def call_row(db: Any, telephony: Any, sid: str) -> dict[str, Any]:
    assert await telephony.recorder.drain(10)
    row = await db.fetchone("SELECT * FROM calls WHERE provider_call_id = :s", {"s": sid})
    assert row is not None
    return dict(row)


async def journey(db: Any, call_id: int) -> list[tuple[str, str, str]]:
    rows = await db.fetchall(
        "SELECT what, destination, detail FROM call_journey WHERE call_id = :c ORDER BY id",
        {"c": call_id},
    )
    return [(r["what"], r["destination"], r["detail"]) for r in rows]


CLINIC = {
    "schema": 1,
    "start": "hours",
    "steps": {
        "hours": {
            "type": "schedule",
            "hours": {d: [["09:00", "12:30"], ["14:00", "19:00"]] for d in ("mon", "tue", "wed")},
            "open": "staff",
            "closed": "closed",
            "holiday": "closed",
        },
        "staff": {"type": "ring", "destinations": [STAFF[0]], "no_answer": "closed"},
        "closed": {
            "type": "message",
            "prompt": {"say": "本日の受付は終了しました。"},
            "next": "bye",
        },
        "bye": {"type": "hangup"},
    },
}


@pytest.mark.parametrize(
    ("when", "rings"),
    [
        ("2026-11-03T20:00", False),  # 文化の日 (Culture Day, a Tuesday), 20:00
        ("2026-11-03T10:00", False),  # the same holiday in opening hours: still closed
        ("2026-11-04T10:00", True),  # a Wednesday
        ("2026-11-04T13:00", False),  # the lunch break
    ],
)
async def test_hours_with_japanese_holidays(
    tclient: httpx.AsyncClient,
    telephony: Any,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    rings: bool,
) -> None:
    await set_flow(db, telephony, CLINIC)
    monkeypatch.setattr(flows, "now_ms", lambda: tokyo_ms(when))
    sid = f"CAH{when[-5:-3]}{when[8:10]}"
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones={}).call(
        to=TRACKING, caller=CALLER, sid=sid
    )
    row = await call_row(db, telephony, sid)
    steps = await journey(db, row["id"])
    if rings:
        assert call.answered_by == STAFF[0] and row["answered_by"] == STAFF[0]
        assert row["status"] == "answered"
        assert ("schedule", "", "open") in steps
    else:
        assert call.attempts == [] and call.heard == ["本日の受付は終了しました。"]
        assert row["status"] == "no-answer" and row["answered_by"] == ""
        state = "holiday" if when.startswith("2026-11-03") else "closed"
        assert ("schedule", "", state) in steps
        assert row["talk_s"] == 0  # a closed message is not talk
    assert row["flow_version"] == 1 and row["flow_fallback"] == ""


async def test_sequential_ringing_stores_every_attempt_and_who_answered(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    flow = {
        "start": "shop",
        "steps": {
            "shop": {
                "type": "ring",
                "mode": "sequential",
                "destinations": [{"number": STAFF[0], "timeout_s": 15}, STAFF[1]],
                "no_answer": "bye",
            },
            "bye": {"type": "hangup"},
        },
    }
    await set_flow(db, telephony, flow)
    phones: dict[str, str | float] = {STAFF[0]: "no-answer", STAFF[1]: 4.0}
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=phones).call(
        to=TRACKING, caller=CALLER, sid="CASEQ1"
    )
    assert call.attempts == [((STAFF[0],), "no-answer"), ((STAFF[1],), "completed")]
    assert call.clock_s == 15 + 4  # the first rang its 15 s out, the second answered at 4 s
    row = await call_row(db, telephony, "CASEQ1")
    assert (row["status"], row["answered_by"], row["talk_s"]) == ("answered", STAFF[1], 30)
    assert await journey(db, row["id"]) == [
        ("start", "", "1"),
        ("ring", STAFF[0], ""),
        ("no-answer", STAFF[0], ""),
        ("ring", STAFF[1], ""),
        ("answered", STAFF[1], ""),
    ]


ROUND_ROBIN = {
    "start": "team",
    "steps": {"team": {"type": "ring", "mode": "round_robin", "destinations": STAFF}},
}


async def test_round_robin_starts_fairly(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await set_flow(db, telephony, ROUND_ROBIN)
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones={})
    first = []
    for n in range(30):
        call = await twilio.call(to=TRACKING, caller=CALLER, sid=f"CARR{n:02d}")
        first.append(call.attempts[0][0][0])
    assert {number: first.count(number) for number in STAFF} == dict.fromkeys(STAFF, 10)
    assert first[:4] == [STAFF[0], STAFF[1], STAFF[2], STAFF[0]]


async def test_simultaneous_ring_learns_who_answered_even_after_the_call_ended(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await set_flow(
        db, telephony, {"start": "all", "steps": {"all": {"type": "ring", "destinations": STAFF}}}
    )
    phones: dict[str, str | float] = {STAFF[0]: "busy", STAFF[1]: 6.0, STAFF[2]: 2.0}
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=phones).call(
        to=TRACKING, caller=CALLER, sid="CASIM1", out_of_order=True
    )
    assert call.attempts == [(tuple(STAFF), "completed")]
    row = await call_row(db, telephony, "CASIM1")
    assert (row["status"], row["answered_by"]) == ("answered", STAFF[2])


MENU = {
    "start": "main",
    "steps": {
        "main": {
            "type": "menu",
            "prompt": {"say": "営業は2を、サポートは1を押してください。"},
            "invalid_prompt": {"say": "もう一度お願いします。"},
            "choices": {"1": "support", "2": "sales"},
            "retries": 1,
            "default": "support",
        },
        "sales": {"type": "ring", "destinations": [STAFF[1]]},
        "support": {"type": "ring", "destinations": [STAFF[2]]},
    },
}


@pytest.mark.parametrize(
    ("presses", "reached", "path", "retried"),
    [
        (["2"], STAFF[1], "main:2", False),
        (["9", "2"], STAFF[1], "main:2", True),  # an invalid key: asked again
        (["", ""], STAFF[2], "main:default", True),  # silence, twice: the default
    ],
)
async def test_menu_choices(
    tclient: httpx.AsyncClient,
    telephony: Any,
    db: Any,
    presses: list[str],
    reached: str,
    path: str,
    retried: bool,
) -> None:
    await set_flow(db, telephony, MENU)
    sid = "CAM" + "".join(p or "s" for p in presses)
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones={}).call(
        to=TRACKING, caller=CALLER, sid=sid, presses=presses
    )
    assert call.answered_by == reached
    assert ("もう一度お願いします。" in call.heard) == (presses[0] == "9")
    row = await call_row(db, telephony, sid)
    assert (row["menu_path"], row["answered_by"]) == (path, reached)
    whats = [w for w, _, _ in await journey(db, row["id"])]
    assert ("menu_retry" in whats) == retried


async def test_everyone_busy_queue_then_voicemail_is_announced(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, smtp: Any
) -> None:
    from backend.notify import targets
    from backend.notify.mail import SmtpConfig
    from tests.telephony.test_notify import LOCAL, Receiver, serving

    mailbox, port = smtp
    telephony.notifier.smtp = SmtpConfig(host="127.0.0.1", port=port, sender="calls@example.com")
    telephony.notifier.policy = LOCAL
    flow = {
        "start": "staff",
        "steps": {
            "staff": {"type": "ring", "destinations": STAFF[:2], "busy": "line"},
            "line": {
                "type": "queue",
                "prompt": {"say": "ただいま混み合っております。"},
                "hold_audio": "https://example.com/hold.mp3",
                "announce_position": True,
                "destinations": STAFF[:2],
                "max_wait_s": 60,
                "retry_every_s": 25,
                "no_answer": "vm",
            },
            "vm": {
                "type": "voicemail",
                "prompt": {"say": "発信音の後にどうぞ。"},
                "max_length_s": 60,
            },
        },
    }
    await set_flow(db, telephony, flow)
    receiver = Receiver()
    async with serving(receiver) as url:
        await targets.add_target(
            db, advertiser_id=1, kind="webhook", address=url, event="completed", policy=LOCAL
        )
        await targets.add_target(
            db, advertiser_id=1, kind="email", address="desk@example.com", event="completed"
        )
        phones: dict[str, str | float] = {STAFF[0]: "busy", STAFF[1]: "busy"}
        call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=phones).call(
            to=TRACKING,
            caller=CALLER,
            sid="CAQ1",
            voicemail_s=12,
            queue_position=2,
            out_of_order=True,
        )
        row = await call_row(db, telephony, "CAQ1")
        await telephony.notifier.wait(30)
    # Busy, then queued with the hold music and its place in line, until the maximum wait.
    assert call.attempts[0] == (tuple(STAFF[:2]), "busy")
    assert "ただいま2番目にお待ちいただいています。" in call.heard
    assert "https://example.com/hold.mp3" in call.heard
    assert 60 <= call.queued_s < 60 + 15
    assert call.voicemail
    assert row["voicemail_url"] == call.voicemail
    assert row["queue_wait_s"] is not None and row["queue_wait_s"] >= 60
    assert (row["status"], row["answered_by"], row["talk_s"]) == ("busy", "", 0)
    whats = [w for w, _, _ in await journey(db, row["id"])]
    assert whats[-2:] == ["voicemail_prompt", "voicemail"] or whats[-1] == "voicemail"
    # The voicemail is announced with its link, by webhook and by e-mail.
    hooks = [orjson.loads(body) for _, body in receiver.requests]
    voicemails = [h for h in hooks if h["event"] == "call.voicemail"]
    assert len(voicemails) == 1 and voicemails[0]["call"]["voicemail_url"] == call.voicemail
    mails = [m for m in mailbox.messages if b"X-Callpath-Event: call.voicemail" in m]
    assert len(mails) == 1 and call.voicemail.encode() in mails[0]


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.replace(outbound_allow_hosts="127.0.0.1")


@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_a_broken_flow_with_storage_down_still_dials_the_target(
    mode: str, app: Any, telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    from tests.telephony.test_fail_open import DEADLINE_S, BrokenStore, _timed_voice

    target = await target_id(db)
    # A stored version that no longer parses (written by hand, or by a later version).
    await db.execute(
        "INSERT INTO call_flows (advertiser_id, target_id, version, document, created_ms)"
        " VALUES (1, :t, 1, :d, 0)",
        {"t": target, "d": orjson.dumps({"start": "gone", "steps": {}}).decode()},
    )
    await telephony.table.load()
    telephony.recorder.write_timeout_s = 0.2
    broken = BrokenStore(db, mode)
    app.state.db = broken
    elapsed, body = await _timed_voice(tclient, "CABRK1")
    assert elapsed < DEADLINE_S
    assert b"<Number>" + TARGET.encode() + b"</Number>" in body
    broken.repair()
    app.state.db = db
    row = await call_row(db, telephony, "CABRK1")
    assert row["flow_fallback"].startswith("stored flow version 1 does not load: steps")
    assert row["forwarded_to"] == TARGET


@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_a_flow_runs_from_memory_with_storage_down(
    mode: str, app: Any, telephony: Any, tclient: httpx.AsyncClient, db: Any
) -> None:
    """Round robin asks storage for its turn: down, the turn comes from memory in time."""
    from tests.telephony.test_fail_open import DEADLINE_S, BrokenStore, _timed_voice

    await set_flow(db, telephony, ROUND_ROBIN)
    telephony.recorder.write_timeout_s = 0.2
    app.state.db = BrokenStore(db, mode)
    dialled = []
    for n in range(3):
        elapsed, body = await _timed_voice(tclient, f"CARRD{n}")
        assert elapsed < DEADLINE_S
        dialled.append(body.split(b"<Number>")[1].split(b"</Number>")[0].decode())
    assert dialled == STAFF


async def test_an_exception_in_a_step_falls_back_and_says_why(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await set_flow(db, telephony, CLINIC)

    def broken_calendar(*args: Any) -> str:
        raise OverflowError("clock out of range")

    monkeypatch.setattr(flows.schedule, "state", broken_calendar)
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE).call(
        to=TRACKING, caller=CALLER, sid="CAEXC1"
    )
    assert call.dialled == TARGET
    monkeypatch.undo()
    row = await call_row(db, telephony, "CAEXC1")
    assert row["flow_fallback"] == "OverflowError: clock out of range"


@pytest.mark.stores("postgresql")
async def test_round_robin_is_fair_across_two_instances(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, settings: Any, tmp_path: Any
) -> None:
    """Two app instances on one PostgreSQL database take turns from one counter."""
    from backend import create_app

    await set_flow(db, telephony, ROUND_ROBIN)
    other = create_app(settings.replace(call_spool_path=str(tmp_path / "other.jsonl")))
    async with other.router.lifespan_context(other):
        await other.state.telephony.table.load()
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as second:
            clients = [
                TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones={}),
                TwilioStandIn(second, AUTH_TOKEN, BASE, phones={}),
            ]
            first = []
            for n in range(30):
                call = await clients[n % 2].call(to=TRACKING, caller=CALLER, sid=f"CARP{n:02d}")
                first.append(call.attempts[0][0][0])
    assert {number: first.count(number) for number in STAFF} == dict.fromkeys(STAFF, 10)


async def test_menu_path_and_destinations_in_the_report_and_the_export(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, demo: dict[str, Any]
) -> None:
    await set_flow(db, telephony, MENU)
    phones: dict[str, str | float] = {STAFF[2]: "no-answer"}
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=phones)
    for n, presses in enumerate((["2"], ["2"], ["1"], ["", ""])):
        await twilio.call(to=TRACKING, caller=CALLER, sid=f"CAREP{n}", presses=presses)
    assert await telephony.recorder.drain(10)
    auth = {"Authorization": f"Bearer {demo['api_token']}"}
    r = await tclient.get("/api/reports/flows?dimension=menu_path", headers=auth)
    assert r.status_code == 200, r.text
    rows = {row["key"]: row for row in r.json()["data"]}
    assert (rows["main:2"]["calls"], rows["main:2"]["answered"]) == (2, 2)
    assert (rows["main:1"]["calls"], rows["main:1"]["missed"]) == (1, 1)
    assert rows["main:default"]["calls"] == 1 and rows["main:default"]["answer_rate"] == 0.0
    r = await tclient.get("/api/reports/flows?dimension=destination", headers=auth)
    by_phone = {row["key"]: row for row in r.json()["data"]}
    assert (by_phone[STAFF[1]]["calls"], by_phone[STAFF[1]]["answer_rate"]) == (2, 1.0)
    assert by_phone[STAFF[2]]["calls"] == 2 and by_phone[STAFF[2]]["answered"] == 0
    r = await tclient.get("/api/reports/flows?dimension=target", headers=auth)
    assert r.json()["data"][0]["key"] == TARGET and r.json()["data"][0]["calls"] == 4
    export = await tclient.get("/api/exports/paths?format=ndjson", headers=auth)
    assert export.status_code == 200, export.text
    lines = [orjson.loads(x) for x in export.text.splitlines() if x]
    paths = sorted(
        line["menu_path"] for line in lines if line["provider_call_id"].startswith("CAREP")
    )
    assert paths == ["main:1", "main:2", "main:2", "main:default"]
    answered = [line["answered_by"] for line in lines if line["menu_path"] == "main:2"]
    assert answered == [STAFF[1], STAFF[1]]


WAV = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + bytes(24)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + bytes(200)


async def test_uploaded_audio_is_played_from_a_signed_url_that_expires(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, demo: dict[str, Any]
) -> None:
    from backend.telephony import audio

    auth = {"Authorization": f"Bearer {demo['api_token']}"}
    up = await tclient.post("/api/audio?name=greeting&advertiser_id=1", content=MP3, headers=auth)
    assert up.status_code == 201, up.text
    kept = up.json()["audio"]
    assert (kept["content_type"], kept["bytes"]) == ("audio/mpeg", len(MP3))
    wav = await tclient.post("/api/audio?advertiser_id=1", content=WAV, headers=auth)
    assert wav.json()["audio"]["content_type"] == "audio/wav"
    for bad in (b"<html>not audio</html>", b"", b"RIFF1234AVI "):
        r = await tclient.post("/api/audio?advertiser_id=1", content=bad, headers=auth)
        assert r.status_code == 422, r.text
    big = await tclient.post(
        "/api/audio?advertiser_id=1", content=MP3 + bytes(audio.MAX_BYTES), headers=auth
    )
    assert big.status_code == 413
    listed = (await tclient.get("/api/audio", headers=auth)).json()["audio"]
    assert {a["id"] for a in listed} >= {kept["id"]} and "data" not in listed[0]

    flow = {
        "start": "hello",
        "steps": {
            "hello": {"type": "message", "prompt": {"audio": kept["id"]}, "next": "staff"},
            "staff": {"type": "ring", "destinations": [STAFF[0]]},
        },
    }
    await set_flow(db, telephony, flow)
    call = await TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones={}).call(
        to=TRACKING, caller=CALLER, sid="CAAUD1"
    )
    played = call.heard[0]
    assert played.startswith(f"{BASE}/twilio/audio/{kept['id']}?exp=")
    fetched = await tclient.get(played[len(BASE) :])
    assert fetched.status_code == 200 and fetched.content == MP3
    assert fetched.headers["content-type"] == "audio/mpeg"
    # Altered, or past its life: refused.
    tampered = played[len(BASE) :].replace("sig=", "sig=0")[:-1]
    assert (await tclient.get(tampered)).status_code == 403
    expired = audio.signed_url("", telephony.settings.secret_key, kept["id"], now_s=0)
    assert (await tclient.get(expired)).status_code == 403
    assert (await tclient.get(f"/twilio/audio/{kept['id']}")).status_code == 403


async def test_a_flow_cannot_play_another_advertisers_audio(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    from backend.storage import seed
    from backend.telephony import audio, flowdoc

    other = await seed.seed_world(db, [seed.TenantSpec("Other")])
    theirs = await audio.store(
        db, advertiser_id=other.tenant("Other").advertiser_id, name="x", data=WAV
    )
    flow = {"start": "m", "steps": {"m": {"type": "message", "prompt": {"audio": theirs["id"]}}}}
    with pytest.raises(flowdoc.FlowError) as refused:
        await set_flow(db, telephony, flow)
    assert refused.value.where == "steps.m.prompt"


@pytest.mark.parametrize(
    "query",
    [
        "",  # no state at all
        "?t=abc&s=staff&p=ring",
        "?t=99999999999999999999999&s=staff&p=ring",
        "?t={t}&tn=%2B815017000001&s=nosuch&p=ring",
        "?t={t}&tn=%2B815017000001&s=staff&p=nosuch",
        "?t={t}&tn=%2B815017000001&s=staff&p=ring&i=999999999999&o=-1&b=x",
        "?t={t}&tn=%2B815017000001&s=staff&p=wait&q=99999999999",
        "?t={t}&tn=%2B815017000001&s=staff&p=leg&n=7",
    ],
)
async def test_odd_flow_callbacks_answer_twiml_never_an_error(
    tclient: httpx.AsyncClient, telephony: Any, db: Any, query: str
) -> None:
    """Only Twilio can sign these URLs, but whatever state one carries, the answer is
    TwiML Twilio accepts: the flow's next step, the plain forward, or nothing."""
    from xml.etree import ElementTree as ET

    from tests.support.twilio import check_vocabulary
    from tests.telephony.conftest import call_params, post_twilio

    target = await set_flow(db, telephony, CLINIC)
    path = "/twilio/flow" + query.format(t=target)
    params = call_params(sid="CAODD1", DialCallStatus="no-answer", QueueTime="x")
    r = await post_twilio(tclient, path, params)
    assert r.status_code == 200, r.text
    check_vocabulary(ET.fromstring(r.content), allowed=set(VOCABULARY_ANY))
    unsigned = await tclient.post(path, data=params)
    assert unsigned.status_code == 403


VOCABULARY_ANY = {"Say", "Play", "Pause", "Gather", "Dial", "Record", "Enqueue", "Redirect"}
VOCABULARY_ANY |= {"Hangup", "Leave", "Reject"}


async def test_a_caller_who_hangs_up_in_the_menu_has_no_talk_time(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    from tests.telephony.conftest import call_params, post_twilio

    await set_flow(db, telephony, MENU)
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAHUP1"))
    assert b"<Gather" in r.content
    done = call_params(sid="CAHUP1", CallStatus="completed", CallDuration="40")
    await post_twilio(tclient, "/twilio/status", done)
    row = await call_row(db, telephony, "CAHUP1")
    assert (row["status"], row["talk_s"], row["answered_ms"]) == ("completed", 0, None)
    assert row["qualified"] == 0
