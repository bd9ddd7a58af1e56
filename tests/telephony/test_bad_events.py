"""One bad event never stops call recording (issue #15, item 9).

A signed webhook whose ``From`` held a NUL made PostgreSQL refuse the insert every time:
the event sat at the head of the recorder's queue and no later call was written, while
``/healthz`` said OK. Carrier fields are now cleaned on the way in (Twilio, the JSON
webhook, the CDR import alike); an event storage still refuses is set aside as a dead
letter after a few tries; ``/healthz`` reports the recorder's backlog.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import orjson

from backend.telephony import cdr, recorder
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD
from tests.telephony.conftest import TARGET, TRACKING, call_params, post_twilio, store_swapped
from tests.telephony.test_fail_open import BrokenStore
from tests.telephony.test_pbx import send


async def test_a_nul_in_a_signed_caller_id_does_not_stop_recording(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    bad = call_params(sid="CANUL1", caller="+8190\x001234\x075678")
    bad["CallerName"] = "\x00" * 5 + "evil\r\n"
    r = await post_twilio(tclient, "/twilio/voice", bad)
    assert r.status_code == 200
    assert ET.fromstring(r.content).find("Dial").findtext("Number") == TARGET
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CANUL2"))
    assert r.status_code == 200
    assert await telephony.recorder.drain(10)
    rows = await db.fetchall("SELECT provider_call_id, caller FROM calls ORDER BY id")
    assert [(r["provider_call_id"], r["caller"]) for r in rows] == [
        ("CANUL1", "+819012345678"),
        ("CANUL2", "+819012345678"),
    ]
    payload = await db.fetchval(
        "SELECT e.payload FROM call_events e JOIN calls c ON c.id = e.call_id"
        " WHERE c.provider_call_id = 'CANUL1'"
    )
    assert orjson.loads(payload)["CallerName"] == "evil"


async def test_the_json_webhook_and_the_cdr_import_clean_the_same_way(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    body = {
        "event": "call.start",
        "provider": "asterisk",
        "call_id": "pbx\x00-1",
        "from": "090-1234-\x005678",
        "to": TRACKING,
        "note": "a\x00b",
    }
    r = await send(tclient, body)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "forward"
    assert await telephony.recorder.drain(10)
    row = await db.fetchone(
        "SELECT provider_call_id, caller FROM calls WHERE provider = 'asterisk'"
    )
    assert row == {"provider_call_id": "pbx-1", "caller": "+819012345678"}

    mapping = cdr.parse_mapping("id=id,caller=from,number=to,start=start")
    rows = [{"id": "cdr\x00-1", "from": "090\x00-1234-5678", "to": TRACKING, "start": "1767225600"}]
    result = await cdr.import_rows(db, rows, mapping, provider="cdr")
    assert result.imported == 1 and not result.errors
    row = await db.fetchone("SELECT provider_call_id, caller FROM calls WHERE provider = 'cdr'")
    assert row == {"provider_call_id": "cdr-1", "caller": "+819012345678"}


class RefusingStore(BrokenStore):
    """The real store, refusing every write of one call (as storage refuses a bad row)."""

    def __init__(self, real: Any, call_id: str) -> None:
        super().__init__(real, "raise")
        self.repaired.set()
        self.call_id = call_id

    async def fetchone(self, sql: str, params: Any = None) -> Any:
        if params and params.get("c") == self.call_id:
            raise ValueError("invalid byte sequence for encoding UTF8: 0x00")
        return await self.real.fetchone(sql, params)


async def test_an_event_storage_keeps_refusing_becomes_a_dead_letter(
    app: Any, tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    telephony.recorder.max_backoff_s = 0.05
    with store_swapped(app, RefusingStore(db, "CADEAD")):
        for sid in ("CADEAD", "CALIVE"):
            r = await post_twilio(tclient, "/twilio/voice", call_params(sid=sid))
            assert ET.fromstring(r.content).find("Dial").findtext("Number") == TARGET
        assert await telephony.recorder.drain(10)
    assert await db.fetchval("SELECT provider_call_id FROM calls") == "CALIVE"
    dead = await db.fetchone(
        "SELECT provider, provider_call_id, kind, status, attempts, error, event"
        " FROM call_dead_letters"
    )
    assert dead is not None
    assert (dead["provider"], dead["provider_call_id"], dead["kind"], dead["status"]) == (
        "twilio",
        "CADEAD",
        "voice",
        "ringing",
    )
    assert dead["attempts"] == recorder.DEAD_AFTER
    assert "invalid byte sequence" in dead["error"]
    assert orjson.loads(dead["event"])["call_id"] == "CADEAD"
    health = (await tclient.get("/healthz")).json()
    assert health["ok"] is True
    assert health["calls"] == {"backlog": 0, "oldest_age_ms": 0, "dead_letters": 1}

    # Administrators see it in the dashboard; members may not open the page.
    from tests.dashboard.seed import seed

    seeded = await seed(db)
    csrf = await login(tclient, seeded.admin, PASSWORD)
    assert csrf
    page = await tclient.get("/dashboard/settings/dead-letters", headers={"Accept-Language": "ja"})
    assert page.status_code == 200
    assert "記録できなかった通話イベント" in page.text
    assert '<span id="dead-letter-count">1</span>' in page.text
    assert "CADEAD" in page.text and "invalid byte sequence" in page.text
    tclient.cookies.clear()
    await login(tclient, seeded.member_a, PASSWORD)
    assert (await tclient.get("/dashboard/settings/dead-letters")).status_code == 403


async def test_healthz_reports_the_backlog_while_storage_is_down(
    app: Any, tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    telephony.recorder.write_timeout_s = 0.2
    with store_swapped(app, BrokenStore(db, "raise")) as broken:
        r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAH1"))
        assert r.status_code == 200
        assert not await telephony.recorder.drain(0.3)
        health = await tclient.get("/healthz")
        assert health.status_code == 503
        calls = health.json()["calls"]
        assert calls["backlog"] == 1
        assert calls["oldest_age_ms"] >= 200  # it has waited through the drain above
        assert calls["dead_letters"] == 0  # storage is down: nothing is set aside
        broken.repair()
    assert await telephony.recorder.drain(15)
    assert await db.fetchval("SELECT provider_call_id FROM calls") == "CAH1"
    assert (await tclient.get("/healthz")).json()["calls"]["backlog"] == 0
