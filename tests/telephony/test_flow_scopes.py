"""Flows per tracking number and per source (issue #18): the most specific flow in force
takes the call (tracking number > source > target), evaluated from memory, followed through
its callbacks, with its own round-robin turns and versions."""

from __future__ import annotations

from typing import Any

import httpx

from backend.telephony import flowstore
from pool.scope import EVERYTHING
from tests.support.twilio import TwilioStandIn
from tests.telephony.conftest import AUTH_TOKEN, BASE, TARGET, TRACKING, add_source_number
from tests.telephony.test_flows import CALLER, STAFF, call_row, target_id

FLYER = "+815017009901"  # a flyer's own number (source チラシ)
FLYER_2 = "+815017009902"  # another flyer's


def _ring(*numbers: str, mode: str = "sequential") -> dict[str, Any]:
    dests = [{"number": n, "timeout_s": 10} for n in numbers]
    return {"start": "r", "steps": {"r": {"type": "ring", "mode": mode, "destinations": dests}}}


async def _flyers(db: Any, *numbers: str) -> None:
    """Source numbers of the demo's site, labelled チラシ, forwarding to its target."""
    site = await db.fetchval(
        "SELECT site_id FROM targets WHERE id = :t", {"t": await target_id(db)}
    )
    for number in numbers:
        await add_source_number(db, number, TARGET, source_label="チラシ", site_id=site)


async def _save(db: Any, flow: dict[str, Any] | None, **scope: str) -> int:
    return await flowstore.save(db, EVERYTHING, await target_id(db), flow, author="test", **scope)


async def test_the_most_specific_flow_takes_the_call(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await _flyers(db, FLYER, FLYER_2)
    await _save(db, _ring(STAFF[0]))
    await _save(db, _ring(STAFF[1]), number=TRACKING)
    await _save(db, _ring(STAFF[2]), source="チラシ")
    await _save(db, _ring(STAFF[1], STAFF[2]), number=FLYER_2)
    await telephony.table.load()
    # The number's flow rings its first phone; unanswered, its callback goes on in the same
    # flow (its second phone), not in the target's.
    phones: dict[str, str | float] = {STAFF[1]: "no-answer"}
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones=phones)
    reached = {}
    for sid, number in (("CASC1", TRACKING), ("CASC2", FLYER), ("CASC3", FLYER_2)):
        call = await twilio.call(to=number, caller=CALLER, sid=sid)
        reached[number] = [a[0][0] for a in call.attempts]
    assert reached == {
        TRACKING: [STAFF[1]],  # its own flow (one phone, no answer)
        FLYER: [STAFF[2]],  # its source's
        FLYER_2: [STAFF[1], STAFF[2]],  # its own, over its source's: followed to the end
    }
    rows = [await call_row(db, telephony, sid) for sid in ("CASC1", "CASC2", "CASC3")]
    assert [r["flow_version"] for r in rows] == [2, 3, 4]
    assert rows[2]["answered_by"] == STAFF[2]
    # Removed, the number's flow gives way to its source's; the source's to the target's.
    await _save(db, None, number=FLYER_2)
    await _save(db, None, source="チラシ")
    await telephony.table.load()
    call = await twilio.call(to=FLYER_2, caller=CALLER, sid="CASC4")
    assert [a[0][0] for a in call.attempts] == [STAFF[0]]
    listed = await flowstore.scoped(db, EVERYTHING, await target_id(db))
    assert [(f["number"], f["source"], f["version"]) for f in listed] == [(TRACKING, "", 2)]


async def test_each_flow_takes_its_own_round_robin_turns(
    tclient: httpx.AsyncClient, telephony: Any, db: Any
) -> None:
    await _save(db, _ring(*STAFF, mode="round_robin"))
    await _save(db, _ring(*STAFF, mode="round_robin"), number=TRACKING)
    await _flyers(db, FLYER)
    await telephony.table.load()
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE, phones={})
    first = []
    for n, number in enumerate((TRACKING, TRACKING, FLYER, TRACKING, FLYER)):
        call = await twilio.call(to=number, caller=CALLER, sid=f"CASCR{n}")
        first.append(call.attempts[0][0][0])
    # The number's turns (0, 1, 2) and the target's (0, 1) are counted apart.
    assert first == [STAFF[0], STAFF[1], STAFF[0], STAFF[2], STAFF[1]]
