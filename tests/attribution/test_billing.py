"""Billing for portals (issue #20): a month of calls priced by hand, to the yen.

The month (February 2026, Asia/Tokyo) has repeat callers (within the 7-day window and
across the month's start), short and unanswered calls, a blocked caller, a call
disqualified by hand, a short call qualified by hand, withheld numbers, an accepted and a
rejected dispute. The amounts below are worked out by hand from the plan; docs/billing.md
walks through the same month.
"""

from __future__ import annotations

import asyncio

import pytest

from attribution import call_work as cw
from attribution.billing import disputes, plans, statements
from attribution.billing.money import (
    BillingError,
    billed_minutes,
    check_registration_number,
    consumption_tax,
    month_bounds,
)
from pool.scope import Scope
from pool.store import Store, Tx
from tests.attribution.conftest import World

HOUR = 3_600_000
DAY = 24 * HOUR
TERMS = statements.Terms(issuer_name="ポータル株式会社", registration_number="T7000012050002")
FEB, _ = month_bounds("2026-02", "Asia/Tokyo")  # 2026-02-01 00:00 JST
AFTER_FEB = FEB + 33 * DAY  # early March: February is over
ADMIN = "user 1 (dashboard)"

PLAN = {
    "effective_from": "2026-01-01",
    "label": "成果報酬プラン",
    "min_talk_s": 60,
    "repeat_days": 7,
    "monthly_fee_yen": 5_000,
    "prices": [
        {"kind": "call", "price_yen": 3_000},
        {"kind": "call", "price_yen": 4_500, "source": "google"},
        {"kind": "minute", "price_yen": 55, "medium": "cpc"},
    ],
}


def at(day: int, hour: int = 10) -> int:
    """February ``day`` at ``hour`` o'clock, Tokyo time."""
    return FEB + (day - 1) * DAY + hour * HOUR


async def call(
    world: World,
    name: str,
    caller: str,
    when: int,
    talk_s: int,
    *,
    answered: bool = True,
    source: str = "",
    medium: str = "",
    status: str = "completed",
) -> int:
    call_id = await world.call(world.numbers[0], caller, when, talk_s=talk_s, answered=answered)
    await world.db.execute(
        "UPDATE calls SET touch_source = :s, touch_medium = :m, status = :st WHERE id = :c",
        {"s": source, "m": medium, "st": status, "c": call_id},
    )
    return call_id


async def seed_month(db: Store, world: World) -> dict[str, int]:
    """The month of the module docstring; the calls by name."""
    async with db.write() as tx:
        await plans.add_plan(
            tx, plans.check_plan(PLAN, world.advertiser_id), actor=ADMIN, now_ms=FEB - 40 * DAY
        )
    c: dict[str, int] = {}
    c["s_jan"] = await call(world, "s_jan", "+819000000001", at(-1), 100)  # Jan 30: billed in Jan
    c["s_feb"] = await call(world, "s_feb", "+819000000001", at(1), 100)  # repeat across months
    c["x1"] = await call(world, "x1", "+819000000002", at(2), 125)  # 3,000
    c["x2"] = await call(world, "x2", "+819000000002", at(5), 200)  # repeat (3 days)
    c["x3"] = await call(world, "x3", "+819000000002", at(10), 90)  # 8 days on: 3,000
    c["y1"] = await call(world, "y1", "+819000000003", at(3), 30)  # too short
    c["y2"] = await call(world, "y2", "+819000000003", at(4), 121, source="google", medium="cpc")
    c["y3"] = await call(world, "y3", "+819000000003", at(12), 70, source="google", medium="cpc")
    c["z"] = await call(world, "z", "+819000000004", at(6), 300)  # disqualified by hand
    c["w"] = await call(world, "w", "+819000000005", at(7), 100, source="google", medium="cpc")
    c["v"] = await call(world, "v", "+819000000006", at(8), 45)  # short, qualified by hand
    c["u"] = await call(world, "u", "+819000000007", at(9), 0, answered=False)
    c["t"] = await call(world, "t", "+819000000008", at(11), 0, answered=False, status="blocked")
    c["anon1"] = await call(world, "anon1", "anonymous", at(13), 80)  # withheld: never a repeat
    c["anon2"] = await call(world, "anon2", "anonymous", at(14), 80)
    c["march"] = await call(world, "march", "+819000000009", at(29), 100)  # March 1: not Feb
    async with db.write() as tx:
        for name, verdict in (("z", False), ("v", True)):
            await cw.work_call(
                tx,
                call_id=c[name],
                changes=cw.CallChanges(qualified=verdict, qualified_reason="聞き取り確認"),
                actor=ADMIN,
                now_ms=at(20),
            )
        accepted = await disputes.open_dispute(
            tx, call_id=c["w"], reason="営業電話でした", actor="user 2 (dashboard)", now_ms=at(8)
        )
        await disputes.decide(
            tx, dispute_id=accepted, decision="accepted", note="", actor=ADMIN, now_ms=at(9)
        )
        rejected = await disputes.open_dispute(
            tx, call_id=c["x3"], reason="同じ人です", actor="user 2 (dashboard)", now_ms=at(11)
        )
        await disputes.decide(
            tx,
            dispute_id=rejected,
            decision="rejected",
            note="8日空いています",
            actor=ADMIN,
            now_ms=at(12),
        )
    return c


# x1 3,000 + x3 3,000 + y2 (4,500 + 3 min × 55) 4,665 + v 3,000 + y3 (4,500 + 2 × 55) 4,610
# + anon1 3,000 + anon2 3,000 = 24,275; + fee 5,000 = 29,275; tax 2,927.5 → 2,927 (down).
EXPECTED = {"x1": 3_000, "x3": 3_000, "y2": 4_665, "v": 3_000, "y3": 4_610, "anon1": 3_000,
            "anon2": 3_000}  # fmt: skip
NOT_BILLED = {
    "s_feb": "repeat_caller",
    "x2": "repeat_caller",
    "y1": "too_short",
    "z": "disqualified",
    "w": "dispute_accepted",
    "u": "not_answered",
    "t": "blocked",
}


async def test_a_month_priced_by_hand_to_the_yen(db: Store, world: World) -> None:
    c = await seed_month(db, world)
    body = await statements.compute(db, world.advertiser_id, "2026-02", TERMS)
    lines = {line["id"]: line["amount_yen"] for line in body["lines"]}
    assert lines == {c[name]: yen for name, yen in EXPECTED.items()}
    assert body["usage_yen"] == 24_275
    assert body["fee_yen"] == 5_000
    assert body["cap_reduction_yen"] == 0
    assert body["adjustments"] == []
    assert body["taxable_yen"] == 29_275
    assert body["tax_yen"] == 2_927  # 2,927.5 rounded down once, on the statement
    assert body["total_yen"] == 32_202
    assert body["billable"] == 7 and body["occurrences"] == 14 and body["disputed"] == 1
    assert body["not_billed"] == {
        "blocked": 1,
        "dispute_accepted": 1,
        "disqualified": 1,
        "not_answered": 1,
        "repeat_caller": 2,
        "too_short": 1,
    }
    assert body["issuer"]["registration_number"] == "T7000012050002"
    y2 = next(line for line in body["lines"] if line["id"] == c["y2"])
    assert (y2["minutes"], y2["talk_s"], y2["source"], y2["at"]) == (
        3,
        121,
        "google",
        "2026-02-04 10:00",
    )


async def test_closing_locks_the_month_and_later_changes_are_adjusted_next_month(
    db: Store, world: World
) -> None:
    c = await seed_month(db, world)
    async with db.write() as tx:
        closed = await statements.close(
            tx, advertiser_id=world.advertiser_id, month="2026-02", terms=TERMS, actor=ADMIN,
            now_ms=AFTER_FEB,
        )  # fmt: skip
    assert closed.body["total_yen"] == 32_202
    stored = await statements.stored_body(db, world.advertiser_id, "2026-02")
    assert stored is not None

    # After closing: x1 is disqualified by hand, and a plan from 10 February raises the
    # plain call to 3,500 (a correction agreed afterwards).
    async with db.write() as tx:
        await cw.work_call(
            tx,
            call_id=c["x1"],
            changes=cw.CallChanges(qualified=False, qualified_reason="いたずら"),
            actor=ADMIN,
            now_ms=AFTER_FEB + HOUR,
        )
        raised = {**PLAN, "effective_from": "2026-02-10"}
        raised["prices"] = [{"kind": "call", "price_yen": 3_500}, *PLAN["prices"][1:]]
        await plans.add_plan(
            tx, plans.check_plan(raised, world.advertiser_id), actor=ADMIN, now_ms=AFTER_FEB
        )
    again = await statements.statement(db, world.advertiser_id, "2026-02", TERMS)
    assert statements.canonical(again.body) == stored  # byte for byte
    assert await statements.stored_body(db, world.advertiser_id, "2026-02") == stored
    assert again.status == "closed"

    # March: x1 no longer billed (−3,000); x2 is no longer a repeat of x1 (+3,000), so x3
    # is a repeat of x2 now (−3,000); anon1 and anon2 fall under the raised plan (+500
    # each). y3 keeps its google price. −2,000 in all; March's own month is the fee and its
    # one call (+819000000009, 100 s, 3,500): 5,000 + 3,500 − 2,000 = 6,500, tax 650.
    march = await statements.compute(db, world.advertiser_id, "2026-03", TERMS)
    adjustments = {a["key"]: a["amount_yen"] for a in march["adjustments"]}
    assert adjustments == {
        f"call:{c['x1']}": -3_000,
        f"call:{c['x2']}": 3_000,
        f"call:{c['x3']}": -3_000,
        f"call:{c['anon1']}": 500,
        f"call:{c['anon2']}": 500,
    }
    assert {a["for_month"] for a in march["adjustments"]} == {"2026-02"}
    assert march["adjustments_yen"] == -2_000
    assert (march["usage_yen"], march["fee_yen"]) == (3_500, 5_000)
    assert (march["taxable_yen"], march["tax_yen"], march["total_yen"]) == (6_500, 650, 7_150)

    # Once March is closed with those adjustments, April does not adjust February again.
    async with db.write() as tx:
        await statements.close(
            tx, advertiser_id=world.advertiser_id, month="2026-03", terms=TERMS, actor=ADMIN,
            now_ms=AFTER_FEB + 40 * DAY,
        )  # fmt: skip
    april = await statements.compute(db, world.advertiser_id, "2026-04", TERMS)
    assert april["adjustments"] == []
    assert april["taxable_yen"] == 5_000


async def test_a_month_with_an_open_dispute_closes_only_when_forced(
    db: Store, world: World
) -> None:
    c = await seed_month(db, world)
    async with db.write() as tx:
        await disputes.open_dispute(
            tx, call_id=c["y3"], reason="間違い電話", actor="user 2", now_ms=at(13)
        )
    with pytest.raises(statements.StatementConflict):
        async with db.write() as tx:
            await statements.close(
                tx, advertiser_id=world.advertiser_id, month="2026-02", terms=TERMS,
                actor=ADMIN, now_ms=AFTER_FEB,
            )  # fmt: skip
    with pytest.raises(statements.StatementConflict):  # not over yet
        async with db.write() as tx:
            await statements.close(
                tx, advertiser_id=world.advertiser_id, month="2026-02", terms=TERMS,
                actor=ADMIN, now_ms=at(27), force=True,
            )  # fmt: skip
    async with db.write() as tx:
        forced = await statements.close(
            tx, advertiser_id=world.advertiser_id, month="2026-02", terms=TERMS, actor=ADMIN,
            now_ms=AFTER_FEB, force=True,
        )  # fmt: skip
    assert forced.forced and forced.body["total_yen"] == 32_202
    trail = await disputes.audit_trail(db, Scope.of(world.advertiser_id))
    assert [r["action"] for r in trail][:2] == ["close", "open"]
    assert "forced" in trail[0]["detail"]


async def test_the_cap_and_a_plan_for_one_target(db: Store, world: World) -> None:
    target = await db.fetchval("SELECT target_id FROM pools WHERE id = :p", {"p": world.pool_id})
    plan = {
        "effective_from": "2026-01-01",
        "monthly_cap_yen": 5_000,
        "prices": [
            {"kind": "call", "price_yen": 1_000},
            {"kind": "call", "price_yen": 2_000, "target_id": int(target)},
        ],
    }
    async with db.write() as tx:
        await plans.add_plan(tx, plans.check_plan(plan, world.advertiser_id), actor=ADMIN, now_ms=0)
    for n in range(4):
        await call(world, f"c{n}", f"+81900000010{n}", at(3 + n), 90)
    body = await statements.compute(db, world.advertiser_id, "2026-02", TERMS)
    assert body["usage_yen"] == 8_000  # the target's price
    assert body["cap_reduction_yen"] == 3_000
    assert (body["taxable_yen"], body["tax_yen"]) == (5_000, 500)


def test_money_rules() -> None:
    assert consumption_tax(29_275, 10) == 2_927
    assert consumption_tax(-2_005, 10) == -200  # a credit rounds toward zero too
    assert [billed_minutes(s) for s in (0, 1, 60, 61, 120, 121)] == [0, 1, 1, 2, 2, 3]
    # 国税庁's own corporate number and a registration number with it.
    assert check_registration_number("T7000012050002") == "T7000012050002"
    assert check_registration_number(" t7000012050002 ") == "T7000012050002"
    for bad in ("T7000012050003", "7000012050002", "T700001205000", "T700001205000X", ""):
        with pytest.raises(BillingError):
            check_registration_number(bad)
    with pytest.raises(BillingError):
        plans.check_plan({"effective_from": "2026-02-30"}, 1)
    with pytest.raises(BillingError):
        plans.check_plan(
            {"effective_from": "2026-02-01", "prices": [{"kind": "call", "price_yen": 1.5}]}, 1
        )


async def test_two_closings_at_once_close_the_month_once(db: Store, world: World) -> None:
    await seed_month(db, world)

    async def close() -> str:
        try:
            async with db.write() as tx:
                await statements.close(
                    tx, advertiser_id=world.advertiser_id, month="2026-02", terms=TERMS,
                    actor=ADMIN, now_ms=AFTER_FEB,
                )  # fmt: skip
        except statements.StatementConflict:
            return "refused"
        return "closed"

    assert sorted(await asyncio.gather(close(), close())) == ["closed", "refused"]
    closes = await db.fetchval("SELECT COUNT(*) FROM billing_audit WHERE action = 'close'")
    assert closes == 1


async def test_two_disputes_of_one_call_at_once_open_one(db: Store, world: World) -> None:
    c = await seed_month(db, world)

    async def dispute(tx: Tx, reason: str) -> None:
        await disputes.open_dispute(
            tx, call_id=c["y2"], reason=reason, actor="user 2 (dashboard)", now_ms=AFTER_FEB
        )

    async def second() -> str:
        try:
            async with db.write() as tx:
                await dispute(tx, "重複")
        except BillingError:
            return "refused"
        return "opened"

    # The second person's dispute runs while the first one's unit is still open: on
    # PostgreSQL it sees no committed dispute yet, so only the database can refuse it.
    async with db.write() as tx:
        await dispute(tx, "営業")
        late = asyncio.create_task(second())
        await asyncio.sleep(0.5)
    assert await late == "refused"
    live = await db.fetchval(
        "SELECT COUNT(*) FROM billing_disputes WHERE call_id = :c AND status = 'open'",
        {"c": c["y2"]},
    )
    assert live == 1


async def test_connected_reserved_calls_are_billed_per_connection(db: Store, world: World) -> None:
    """接続課金: each connected reserved call at the plan's reserved price, a lead connected
    again within the window once; calls are priced as before beside them."""
    plan = {**PLAN, "prices": [{"kind": "reserved", "price_yen": 8_000}]}
    async with db.write() as tx:
        await plans.add_plan(
            tx, plans.check_plan(plan, world.advertiser_id), actor=ADMIN, now_ms=FEB - 40 * DAY
        )
        number = await tx.fetchval(
            "INSERT INTO reservation_numbers (number, advertiser_id, created_ms)"
            " VALUES ('+815011112222', :a, 0) RETURNING id",
            {"a": world.advertiser_id},
        )
        connected = {}
        for name, phone, day, talk in (
            ("lead_a", "+819011110001", 3, 300),
            ("lead_a_again", "+819011110001", 5, 240),  # the same lead two days later
            ("lead_b", "+819011110002", 10, 180),
        ):
            reservation = await tx.fetchval(
                "INSERT INTO reservations (advertiser_id, lead_ref, lead_phone, medium,"
                " number_id, start_ms, end_ms, hold_start_ms, hold_end_ms, status,"
                " connected_ms, talk_s, created_ms, updated_ms) VALUES (:a, :ref, :phone,"
                " 'portal', :n, :t, :t, :t, :t, 'connected', :t, :talk, :t, :t) RETURNING id",
                {
                    "a": world.advertiser_id,
                    "ref": name,
                    "phone": phone,
                    "n": number,
                    "t": at(day),
                    "talk": talk,
                },
            )
            connected[name] = await tx.fetchval(
                "INSERT INTO reservation_connections (reservation_id, advertiser_id, medium,"
                " call_sid, connected_ms, talk_s) VALUES (:r, :a, 'portal', :sid, :t, :talk)"
                " RETURNING id",
                {
                    "r": reservation,
                    "a": world.advertiser_id,
                    "sid": f"CA{name}",
                    "t": at(day),
                    "talk": talk,
                },
            )
    body = await statements.compute(db, world.advertiser_id, "2026-02", TERMS)
    billed = {(line["kind"], line["id"]): line["amount_yen"] for line in body["lines"]}
    assert billed == {
        ("reserved", connected["lead_a"]): 8_000,
        ("reserved", connected["lead_b"]): 8_000,
    }
    assert body["not_billed"] == {"repeat_caller": 1}
    assert body["usage_yen"] == 16_000 and body["fee_yen"] == 5_000
    assert body["tax_yen"] == 2_100 and body["total_yen"] == 23_100
