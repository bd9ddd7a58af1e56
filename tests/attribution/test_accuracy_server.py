"""Attribution accuracy through the server, not the simulator's shortcut (issue #21).

The simulator's visitors are driven through the app's HTTP routes: ``/v1/session`` on
arrival (and again from a second tab for some), ``/v1/heartbeat`` every minute while the
page is open (with the page), and each call through the Twilio stand-in (signed webhooks,
``<Gather>`` with the visit's code when the visitor tapped the link, the status callback),
with the server's clock driven by the test. The truth (which visit made which call) is
kept here and every stored call is scored against it; the shares agree with the simulator
on the same traffic within a few points, and calls given to the wrong visit without a
``low`` confidence or an ambiguous flag stay at most 0.5 %.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from attribution import simulate as sim
from attribution.tokens import SESSION_TOKEN, Signer
from backend import create_app
from backend.settings import Settings
from backend.storage import open_database
from tests.support.browser import BROWSER_HEADERS
from tests.support.twilio import TwilioStandIn

TOKEN = "accuracy-twilio-token"
BASE = "http://testserver"
POOL = 6
TRAFFIC = sim.Traffic(
    visitors_per_day=160, days=1, call_share=1.0, seed=21, tap_share=0.7, redial_share=0.2
)
SHAPE = sim.PoolShape(codes=True)


class Clock:
    """The server's ``now_ms`` while the test drives it."""

    def __init__(self) -> None:
        self.ms = sim.T0

    def __call__(self) -> int:
        return self.ms


def _outcome(row: dict[str, Any], truth: int) -> str:
    if row["match_method"] == "ambiguous" or (
        row["match_method"] == "overflow" and row["match_candidates"] > 1
    ):
        return "ambiguous"
    if row["session_id"] is None:
        return "unattributed"
    return "correct" if row["session_id"] == truth else "wrong"


@pytest.mark.stores("sqlite")
async def test_server_accuracy_agrees_with_the_simulator(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.replace(
        twilio_auth_token=TOKEN,
        call_spool_path=str(tmp_path / "spool.jsonl"),
        lease_sweep_seconds=0,  # leases idle out on the simulated clock, not the real one
        heartbeat_seconds=SHAPE.heartbeat_ms // 1000,
        late_call_window_seconds=SHAPE.late_window_ms // 1000,
    )
    clock = Clock()
    monkeypatch.setattr("backend.routes.visits.now_ms", clock)
    monkeypatch.setattr("backend.telephony.twilio.now_ms", clock)
    visitors = sim.generate(TRAFFIC)
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app):
        db = app.state.db
        site_id, _ = await sim._setup(db, POOL, SHAPE)
        await db.execute("UPDATE sites SET visit_codes = 1 WHERE id = :s", {"s": site_id})
        tel = app.state.telephony
        await tel.table.load()
        signer = Signer(settings.secret_key, SESSION_TOKEN)
        transport = httpx.ASGITransport(app=app)
        truth: dict[str, int] = {}
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers=BROWSER_HEADERS
        ) as client:
            twilio = TwilioStandIn(client, TOKEN, BASE)
            state: dict[int, dict[str, Any]] = {}
            events: list[tuple[int, int, str, int]] = []
            for v in visitors:
                heapq.heappush(events, (v.arrive_ms, 0, "arrive", v.index))
            sids = itertools.count(1)
            while events:
                t, _, kind, i = heapq.heappop(events)
                clock.ms = t
                v = visitors[i]
                page = f"http://simulated.example/p{i}"
                if kind in ("arrive", "tab"):
                    body = {"site": "simulated", "url": page}
                    if kind == "tab":
                        body["token"] = state[i]["token"]
                        body["url"] = f"{page}/tab"
                    r = await client.post("/v1/session", json=body)
                    assert r.status_code == 200, r.text
                    answer = r.json()
                    if kind == "tab":
                        continue
                    swap = answer["swaps"][0] if answer["swaps"] else {}
                    state[i] = {
                        "token": answer["token"],
                        "session": signer.read(answer["token"]),
                        "number": swap.get("e164") or swap.get("number", ""),
                        "code": swap.get("code", ""),
                    }
                    beat = v.arrive_ms + SHAPE.heartbeat_ms
                    while swap and beat < v.leave_ms:
                        heapq.heappush(events, (beat, 1, "beat", i))
                        beat += SHAPE.heartbeat_ms
                    if swap:
                        heapq.heappush(events, (v.leave_ms, 1, "beat", i))
                    if v.index % 4 == 0 and v.leave_ms - v.arrive_ms > 20_000:
                        # A second tab of the same visit: the same session and number.
                        heapq.heappush(events, (v.arrive_ms + 10_000, 1, "tab", i))
                    for call_ms in [*v.calls_ms, *v.redials_ms]:
                        heapq.heappush(events, (call_ms, 2, "call", i))
                elif kind == "beat":
                    # The visitor moved on to another page of the site meanwhile.
                    await client.post(
                        "/v1/heartbeat", json={"token": state[i]["token"], "url": f"{page}/{t}"}
                    )
                else:
                    s = state[i]
                    if not s["number"]:
                        truth[f"none{next(sids)}"] = s["session"]
                        continue
                    sid = f"CA{next(sids):032d}"
                    truth[sid] = s["session"]
                    call = await twilio.call(
                        to=s["number"],
                        caller=f"+8190{v.index:08d}",
                        sid=sid,
                        post_dial=s["code"] if v.sends_code else "",
                        pause_s=1,
                    )
                    assert call.dialled == "+81312345678"
                    assert await tel.recorder.drain(10)
            # Heartbeats carried their pages, tabs added theirs: a click path per visit.
            views = await db.fetchval("SELECT COUNT(*) FROM page_views")
            assert views > 1.5 * len(visitors)
            rows = {
                r["provider_call_id"]: r
                for r in await db.fetchall(
                    "SELECT provider_call_id, session_id, match_method, match_candidates,"
                    " match_confidence FROM calls"
                )
            }
    server = sim.Result(POOL)
    for sid, session in truth.items():
        server.calls += 1
        row = rows.get(sid)
        if row is None:  # the page showed the business number
            outcome, level = "unattributed", ""
        else:
            outcome = _outcome(row, session)
            level = row["match_confidence"] or ("low" if outcome == "ambiguous" else "")
        server.counts[outcome] += 1
        key = (outcome, level)
        server.by_confidence[key] = server.by_confidence.get(key, 0) + 1

    store = await open_database(f"sqlite:///{tmp_path / 'sim.db'}")
    try:
        simulated = await sim.run(store, sim.generate(TRAFFIC), pool_size=POOL, shape=SHAPE)
    finally:
        await store.close()
    assert server.calls == simulated.calls > 150
    for outcome in sim.OUTCOMES:
        assert abs(server.share(outcome) - simulated.share(outcome)) <= 0.04, (
            outcome,
            server.counts,
            simulated.counts,
        )
    assert server.unflagged_wrong() <= 0.005, server.by_confidence
    assert server.share("correct", "exact") > 0.4  # the tapped calls, named by their code
