"""Telephony binds the matcher and the qualifier when it is imported (issue #24).

They used to be looked up by their names at each call: a renamed function made every call
"unmatched" and every call unqualified, silently. Taking the names away after import must
change nothing, and a missing function must fail at import, not at the first call.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

import attribution.matching
import attribution.qualification
from backend.telephony import matching
from pool.store import Store, now_ms
from tests.support.browser import BROWSER_HEADERS
from tests.telephony.conftest import TARGET, call_params, post_twilio


async def test_the_matcher_is_bound_at_import_not_looked_up_by_name(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await tclient.post(
        "/v1/session",
        content=orjson.dumps({"site": "demo", "url": "http://127.0.0.1/examples/"}),
        headers={**BROWSER_HEADERS, "origin": "http://127.0.0.1", "content-type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    number = {s["target"]: s["number"] for s in r.json()["swaps"]}[TARGET]
    sid = "CAbinding1"
    await post_twilio(tclient, "/twilio/voice", call_params(sid=sid, to=number))
    assert await telephony.recorder.drain(5)
    call_id = await db.fetchval("SELECT id FROM calls WHERE provider_call_id = :c", {"c": sid})
    # As if the functions had been renamed in attribution/: telephony must not notice.
    monkeypatch.delattr(attribution.matching, "match_call")
    monkeypatch.delattr(attribution.qualification, "qualify_call")
    m = await matching.match(
        db, tracking_number=number, caller="+819012345678", started_ms=now_ms()
    )
    assert m.method != "none" and m.session_id is not None
    assert await matching.qualify(db, call_id) is not None
