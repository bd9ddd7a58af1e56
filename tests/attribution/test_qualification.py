"""Qualification rules on completed calls."""

from __future__ import annotations

import pytest

from attribution.qualification import Rules, qualify_call, rules_for, set_rules
from tests.attribution.conftest import MIN, T0, World

NUM = "+815017000001"


async def _flags(world: World, call_id: int) -> tuple[int, int]:
    row = await world.db.fetchone(
        "SELECT qualified, first_time FROM calls WHERE id = :id", {"id": call_id}
    )
    assert row is not None
    return row["qualified"], row["first_time"]


async def test_default_rules_answered_and_sixty_seconds(world: World) -> None:
    assert await rules_for(world.db, world.site_id) == Rules()
    long = await world.call(NUM, "+819011110000", T0, talk_s=60)
    short = await world.call(NUM, "+819022220000", T0, talk_s=59)
    missed = await world.call(NUM, "+819033330000", T0, talk_s=0, answered=False)
    assert await qualify_call(world.db, call_id=long) is True
    assert await qualify_call(world.db, call_id=short) is False
    assert await qualify_call(world.db, call_id=missed) is False
    assert await _flags(world, long) == (1, 1)
    assert await _flags(world, short) == (0, 1)


async def test_first_time_caller_and_a_rule_that_requires_it(world: World) -> None:
    first = await world.call(NUM, "+819011110000", T0, talk_s=120)
    again = await world.call(NUM, "+819011110000", T0 + 10 * MIN, talk_s=120)
    assert await qualify_call(world.db, call_id=again) is True
    assert await _flags(world, again) == (1, 0)
    async with world.db.write() as tx:
        await set_rules(tx, site_id=world.site_id, rules=Rules(require_first_time=True), now_ms=T0)
    assert await qualify_call(world.db, call_id=again) is False
    assert await qualify_call(world.db, call_id=first) is True
    assert await _flags(world, first) == (1, 1)


async def test_first_time_window_and_withheld_callers(world: World) -> None:
    async with world.db.write() as tx:
        await set_rules(
            tx,
            site_id=world.site_id,
            rules=Rules(min_talk_s=30, first_time_days=7, require_first_time=True),
            now_ms=T0,
        )
    await world.call(NUM, "+819011110000", T0, talk_s=40)
    month_later = await world.call(NUM, "+819011110000", T0 + 30 * 86_400_000, talk_s=40)
    assert await qualify_call(world.db, call_id=month_later) is True
    withheld = await world.call(NUM, "anonymous", T0, talk_s=300)
    assert await qualify_call(world.db, call_id=withheld) is False
    assert await _flags(world, withheld) == (0, 0)


async def test_rules_are_replaced_and_validated(world: World) -> None:
    async with world.db.write() as tx:
        await set_rules(tx, site_id=world.site_id, rules=Rules(min_talk_s=10), now_ms=T0)
        await set_rules(tx, site_id=world.site_id, rules=Rules(min_talk_s=20), now_ms=T0)
    assert (await rules_for(world.db, world.site_id)).min_talk_s == 20
    with pytest.raises(ValueError):
        async with world.db.write() as tx:
            await set_rules(tx, site_id=world.site_id, rules=Rules(min_talk_s=-1), now_ms=T0)
    with pytest.raises(LookupError):
        await qualify_call(world.db, call_id=999)
