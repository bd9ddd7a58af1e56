"""Confidence, reason and candidates stored on calls from signed Twilio webhooks, and
shown in the API, the path exports and the reports (issue #21)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import orjson
import pytest

from backend.settings import Settings
from pool import leases
from pool.store import Store, now_ms
from tests.telephony.conftest import TARGET, call_params, call_row, holder_of, post_twilio

ORIGIN = {"origin": "http://127.0.0.1"}
CALLER = "+819012345678"
OTHER = "+819087654321"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No rest between holders, so a number comes back to the next visitor at once.
    return settings.replace(lease_cooldown_seconds=0, lease_grace_seconds=0)


async def _visit(client: httpx.AsyncClient, db: Store, page: str) -> tuple[int, str, str]:
    """A new visitor on the demo site: its session, token and the number shown for TARGET."""
    r = await client.post(
        "/v1/session",
        json={"site": "demo", "url": f"http://127.0.0.1/examples/{page}"},
        headers=ORIGIN,
    )
    assert r.status_code == 200, r.text
    number = {s["target"]: s["number"] for s in r.json()["swaps"]}[TARGET]
    return await holder_of(db, number), r.json()["token"], number


async def _call(client: httpx.AsyncClient, telephony: Any, db: Store, sid: str, **kw: str) -> Any:
    r = await post_twilio(client, "/twilio/voice", call_params(sid=sid, **kw))
    assert r.status_code == 200
    assert await telephony.recorder.drain(10)
    return await call_row(db, sid)


async def test_confidence_is_stored_and_shown_everywhere(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    a, token_a, number = await _visit(tclient, db, "?v=a")
    beat = await tclient.post("/v1/heartbeat", json={"token": token_a}, headers=ORIGIN)
    assert beat.status_code == 200
    # 1. A calls while the page is open: high.
    first = await _call(tclient, telephony, db, "CACONF1", to=number, caller=CALLER)
    assert (first["session_id"], first["match_method"]) == (a, "lease")
    assert (first["match_confidence"], first["match_reason"]) == ("high", "page_open")
    assert orjson.loads(first["match_candidate_ids"]) == [a]

    # A leaves; the next visitors take the pool's other numbers, then A's comes back.
    lease_a = await db.fetchval(
        "SELECT l.id FROM leases l JOIN tracking_numbers n ON n.id = l.number_id"
        " WHERE l.session_id = :s AND n.number = :n AND l.ended_ms IS NULL",
        {"s": a, "n": number},
    )
    assert await leases.release(db, lease_id=lease_a, now_ms=now_ms())
    holder = None
    for i in range(30):
        session, _, shown = await _visit(tclient, db, f"?v={i}")
        if shown == number:
            holder = session
            break
    assert holder is not None and holder != a

    # 2. A stranger calls the number: the holder's, but low, A kept as a candidate.
    second = await _call(tclient, telephony, db, "CACONF2", to=number, caller=OTHER)
    assert (second["session_id"], second["match_method"]) == (holder, "lease")
    assert (second["match_confidence"], second["match_reason"]) == ("low", "late_call_window")
    assert orjson.loads(second["match_candidate_ids"]) == [holder, a]
    assert second["match_candidates"] == 2

    # 3. A calls again: their own earlier confident call decides.
    third = await _call(tclient, telephony, db, "CACONF3", to=number, caller=CALLER)
    assert (third["session_id"], third["match_method"]) == (a, "repeat_caller")
    assert (third["match_confidence"], third["match_reason"]) == ("high", "caller_before")

    auth = {"Authorization": f"Bearer {demo['api_token']}"}
    ids = {first["id"], second["id"], third["id"]}
    r = await tclient.get("/api/calls", headers=auth)
    assert r.status_code == 200
    calls = {c["id"]: c for c in r.json()["data"]}
    assert ids <= set(calls)
    low = calls[second["id"]]
    assert (low["match_confidence"], low["match_reason"]) == ("low", "late_call_window")
    assert low["match_candidate_ids"] == [holder, a]
    detail = (await tclient.get(f"/api/calls/{second['id']}", headers=auth)).json()
    assert detail["match_candidate_ids"] == [holder, a]

    high_only = await tclient.get("/api/calls?min_confidence=high", headers=auth)
    assert {c["id"] for c in high_only.json()["data"]} == {first["id"], third["id"]}
    any_level = await tclient.get("/api/calls?min_confidence=low", headers=auth)
    assert {c["id"] for c in any_level.json()["data"]} == ids
    bad = await tclient.get("/api/calls?min_confidence=sure", headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"

    nd = await tclient.get("/api/exports/paths?format=ndjson", headers=auth)
    rows = {r["call_id"]: r for r in map(orjson.loads, nd.content.splitlines())}
    assert rows[second["id"]]["match_candidate_ids"] == [holder, a]
    assert rows[second["id"]]["match_confidence"] == "low"
    text = (await tclient.get("/api/exports/paths?format=csv", headers=auth)).text
    by_id = {int(r["call_id"]): r for r in csv.DictReader(io.StringIO(text))}
    assert by_id[second["id"]]["match_candidate_ids"] == f"{holder} {a}"
    assert by_id[second["id"]]["match_reason"] == "late_call_window"
    confident = await tclient.get(
        "/api/exports/paths?format=ndjson&min_confidence=high", headers=auth
    )
    assert {orjson.loads(x)["call_id"] for x in confident.content.splitlines()} == {
        first["id"],
        third["id"],
    }

    report = await tclient.get(
        "/api/reports/calls?dimension=channel&min_confidence=high", headers=auth
    )
    assert sum(r["calls"] for r in report.json()["data"]) == 2
    report = await tclient.get("/api/reports/calls?dimension=channel", headers=auth)
    assert sum(r["calls"] for r in report.json()["data"]) == 3
