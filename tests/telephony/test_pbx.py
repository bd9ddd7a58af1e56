"""The generic call webhook for other carriers and PBXs, and the Asterisk AGI example."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from backend.telephony import config
from backend.telephony.signature import pbx_signature
from tests.support.server import ROOT, Server, run_cli
from tests.telephony.conftest import PBX_SECRET, TARGET, TRACKING

AGI = ROOT / "examples" / "pbx" / "asterisk" / "callpath_agi.py"


async def send(
    client: httpx.AsyncClient,
    body: dict[str, Any] | bytes,
    *,
    secret: str = PBX_SECRET,
    ts: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    stamp = str(int(time.time()) if ts is None else ts)
    headers = {
        "content-type": "application/json",
        "x-callpath-timestamp": stamp,
        "x-callpath-signature": signature or pbx_signature(secret, stamp, raw),
    }
    return await client.post("/webhooks/calls", content=raw, headers=headers)


def start(
    call_id: str = "pbx-1", caller: str = "090-1234-5678", to: str = "050-1700-0001"
) -> dict[str, Any]:
    return {
        "event": "call.start",
        "call_id": call_id,
        "from": caller,
        "to": to,
        "provider": "asterisk",
    }


async def test_start_answers_the_target_and_end_completes_the_call(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    for _ in range(2):  # delivered twice: one call
        r = await send(tclient, start())
        assert r.status_code == 200, r.text
        assert r.json() == {
            "action": "forward",
            "call_id": "pbx-1",
            "forward_to": TARGET,
            "timeout": 30,
            "record": False,
            "caller_id": "+819012345678",
        }
    end = {
        "event": "call.end",
        "call_id": "pbx-1",
        "provider": "asterisk",
        "status": "answered",
        "duration": 65,
        "talk": 58,
    }
    r = await send(tclient, end)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert await telephony.recorder.drain(10)
    rows = await db.fetchall("SELECT * FROM calls")
    assert len(rows) == 1
    call = rows[0]
    assert (call["provider"], call["tracking_number"], call["caller"]) == (
        "asterisk",
        TRACKING,
        "+819012345678",
    )
    assert (call["status"], call["talk_s"], call["duration_s"]) == ("answered", 58, 65)
    assert call["forwarded_to"] == TARGET


@pytest.mark.stores("sqlite")
async def test_signatures_and_the_replay_window(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    body = orjson.dumps(start())
    assert (await send(tclient, body, secret="wrong")).status_code == 403
    assert (await send(tclient, body, ts=int(time.time()) - 301)).status_code == 403
    assert (await send(tclient, body, ts=int(time.time()) + 301)).status_code == 403
    assert (await send(tclient, body, signature="v1=" + "0" * 64)).status_code == 403
    r = await tclient.post("/webhooks/calls", content=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # A signature over other bytes does not carry over to a changed body.
    stamp = str(int(time.time()))
    sig = pbx_signature(PBX_SECRET, stamp, body)
    changed = body.replace(b"pbx-1", b"pbx-2")
    r = await tclient.post(
        "/webhooks/calls",
        content=changed,
        headers={"x-callpath-timestamp": stamp, "x-callpath-signature": sig},
    )
    assert r.status_code == 403
    # Rotation: either of two listed signatures may match.
    r = await send(tclient, body, signature=f"v1={'0' * 64},{sig}", ts=int(stamp))
    assert r.status_code == 200
    assert await telephony.recorder.drain(5)
    assert await db.fetchval("SELECT COUNT(*) FROM calls") == 1


@pytest.mark.stores("sqlite")
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        ({"event": "call.ring", "call_id": "x"}, 422),
        ({"event": "call.start", "to": "0501700001"}, 422),
        ({"event": "call.start", "call_id": "x" * 200, "to": TRACKING}, 422),
        ({"event": "call.start", "call_id": "x", "to": "hello"}, 422),
        ({"event": "call.start", "call_id": "x", "to": TRACKING, "provider": "Twilio"}, 422),
        ({"event": "call.end", "call_id": "x", "status": "great"}, 422),
        ({"event": "call.end", "call_id": "x", "status": "busy", "talk": -3}, 422),
        ({"event": "call.end", "call_id": "x", "status": "busy", "duration": "10"}, 422),
        ({"event": "call.start", "call_id": "x", "to": TRACKING, "timestamp_ms": "now"}, 422),
        ({"event": "call.start", "call_id": "x", "to": "+815099999999"}, 404),
        (b'{"a": "' + b"x" * 70_000 + b'"}', 413),  # over CALLPATH_MAX_WEBHOOK_BODY_BYTES
    ],
)
async def test_bad_input_gets_a_4xx_and_changes_nothing(
    body: Any, status: int, tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    r = await send(tclient, body)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) >= {"code", "message", "status"}
    assert await telephony.recorder.drain(5)
    # Only the unknown number is recorded (as a call nobody could be matched to).
    expected = 1 if status == 404 else 0
    assert await db.fetchval("SELECT COUNT(*) FROM calls") == expected


@pytest.mark.stores("sqlite")
async def test_blocked_callers_are_rejected(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await config.block(db, advertiser_id=1, pattern="+81901234", kind="prefix")
    await telephony.table.load()
    r = await send(tclient, start("pbx-b"))
    assert r.json() == {"action": "reject", "reason": "blocked", "call_id": "pbx-b"}


@pytest.mark.e2e
def test_the_asterisk_agi_script_against_a_real_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agi.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    server = Server(url, env_extra={"CALLPATH_CALLS_WEBHOOK_SECRET": PBX_SECRET}).start()
    env = {
        "CALLPATH_URL": server.url,
        "CALLPATH_CALLS_WEBHOOK_SECRET": PBX_SECRET,
        "PATH": "/usr/bin:/bin",
    }
    agi_env = "agi_uniqueid: 1700000000.42\nagi_callerid: 0312345000\nagi_dnid: 05017000002\n\n"
    try:
        started = subprocess.run(
            [sys.executable, str(AGI), "start"],
            input=agi_env + "200 result=1\n" * 3,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        )
        assert started.stdout.splitlines() == [
            'SET VARIABLE CALLPATH_ACTION "forward"',
            f'SET VARIABLE CALLPATH_FORWARD "{TARGET}"',
            'SET VARIABLE CALLPATH_TIMEOUT "30"',
        ]
        replies = "200 result=1 (ANSWER)\n200 result=1 (42)\n200 result=1 (50)\n"
        subprocess.run(
            [sys.executable, str(AGI), "end"],
            input=agi_env + replies,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        )
        deadline = time.monotonic() + 10
        row = None
        while time.monotonic() < deadline:
            conn = sqlite3.connect(tmp_path / "agi.db")
            row = conn.execute(
                "SELECT provider, provider_call_id, status, talk_s, duration_s, caller FROM calls"
            ).fetchone()
            conn.close()
            if row and row[2] == "answered":
                break
            time.sleep(0.1)
        assert row == ("asterisk", "1700000000.42", "answered", 42, 50, "+81312345000")
    finally:
        server.stop()
    # With callpath down, the dialplan is told to fall back to the business's number.
    down = subprocess.run(
        [sys.executable, str(AGI), "start"],
        input=agi_env + "200 result=1\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    assert down.stdout.splitlines() == ['SET VARIABLE CALLPATH_ACTION "fallback"']


@pytest.mark.stores("sqlite")
async def test_a_body_under_the_webhook_limit_is_read(
    tclient: httpx.AsyncClient, telephony: Any
) -> None:
    """The body limit of /webhooks/calls is CALLPATH_MAX_WEBHOOK_BODY_BYTES (issue #24: a
    20 KB event was refused as "larger than 16384", the snippet's limit)."""
    settings = telephony.settings
    assert settings.max_body_bytes < 20_000 < settings.max_webhook_body_bytes
    body = orjson.dumps({**start(), "note": "n" * 20_000})
    r = await send(tclient, body)
    assert r.status_code == 200, r.text
    too_large = orjson.dumps({**start(), "note": "n" * settings.max_webhook_body_bytes})
    r = await send(tclient, too_large)
    assert r.status_code == 413
    assert str(settings.max_webhook_body_bytes) in r.json()["error"]["message"]
