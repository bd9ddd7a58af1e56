"""Source rules: landing-page parameter > referrer > source rule > session pool."""

from __future__ import annotations

import functools

import pytest

from backend.storage import SQLiteDatabase
from pool.inventory import NumberSpec, add_numbers
from pool.numbers import NumberError, retire_number
from pool.rules import SourceRule, Visit, add_rule, choose_number_source, load_rules
from tests.pool.helpers import T0, make_pool_site

FLYER = SourceRule(1, "param", "cp", "flyer", "number", number_id=11, number="+81120111222")
ANY_CP = SourceRule(2, "param", "cp", "", "pool", priority=200)
YAHOO_REF = SourceRule(3, "referrer", "", "yahoo.co.jp", "number", number_id=12, number="+2")
YAHOO_SRC = SourceRule(4, "source", "source", "Yahoo", "number", number_id=13, number="+3")
INTERNAL = SourceRule(5, "source", "medium", "internal", "original")
OTHER_TARGET = SourceRule(6, "param", "cp", "flyer", "original", target_id=99, priority=0)


def choose(visit: Visit, rules: list[SourceRule], policy: str = "pool", pool: int | None = 7):
    return choose_number_source(visit, rules, target_id=1, pool_id=pool, untracked_policy=policy)


RULES = [FLYER, ANY_CP, YAHOO_REF, YAHOO_SRC, INTERNAL, OTHER_TARGET]


def test_landing_parameter_wins_over_everything() -> None:
    visit = Visit.from_url(
        "https://ex.jp/?cp=Flyer&utm_source=yahoo", "https://search.yahoo.co.jp/", source="yahoo"
    )
    choice = choose(visit, RULES)
    assert (choice.action, choice.reason, choice.rule_id, choice.number_id) == (
        "number",
        "param",
        1,
        11,
    )
    assert choice.number == "+81120111222"


def test_parameter_rule_with_empty_value_matches_any_value() -> None:
    choice = choose(Visit.from_url("https://ex.jp/?cp=poster"), RULES)
    assert (choice.action, choice.reason, choice.rule_id, choice.pool_id) == ("pool", "param", 2, 7)


def test_referrer_wins_over_source_rules_and_matches_subdomains() -> None:
    visit = Visit.from_url(
        "https://ex.jp/", "https://search.yahoo.co.jp/search?p=x", source="yahoo"
    )
    assert choose(visit, RULES).rule_id == 3
    lookalike = Visit.from_url("https://ex.jp/", "https://notyahoo.co.jp/", source="yahoo")
    assert choose(lookalike, RULES).rule_id == 4  # not a subdomain: falls to the source rule


def test_source_rules_then_pool() -> None:
    assert choose(Visit(channel="referral", medium="Internal"), RULES).action == "original"
    plain = choose(Visit(channel="organic", source="google"), RULES)
    assert (plain.action, plain.reason, plain.pool_id) == ("pool", "pool", 7)


def test_rules_for_another_target_do_not_apply() -> None:
    rules = [OTHER_TARGET]
    assert choose(Visit.from_url("https://ex.jp/?cp=flyer"), rules).reason == "pool"


def test_priority_orders_rules_of_one_kind() -> None:
    low = SourceRule(8, "param", "cp", "", "original", priority=1)
    assert choose(Visit.from_url("https://ex.jp/?cp=flyer"), [FLYER, low]).rule_id == 8


@pytest.mark.parametrize(
    ("policy", "channel", "action"),
    [
        ("pool", "direct", "pool"),
        ("original", "direct", "original"),
        ("original", "", "original"),
        ("original", "paid_search", "pool"),
    ],
)
def test_untracked_policy(policy: str, channel: str, action: str) -> None:
    choice = choose(Visit(channel=channel), [], policy)
    assert choice.action == action
    if action == "original":
        assert choice.reason == "untracked"


def test_no_pool_keeps_the_original() -> None:
    assert choose(Visit(channel="organic"), [], pool=None).reason == "no_pool"
    assert choose(Visit.from_url("https://ex.jp/?cp=flyer"), RULES, pool=None).action == "number"


async def test_rules_are_stored_checked_and_loaded(db: SQLiteDatabase) -> None:
    ps = await make_pool_site(db)
    spec = NumberSpec("0120-111-222", kind="source", site="s1", target="03-1234-5678", label="Fly")
    (flyer,) = await add_numbers(db, [spec], advertiser_id=None, now_ms=T0)
    async with db.write() as tx:
        rule = functools.partial(add_rule, tx, site_id=ps.site_id, now_ms=T0)
        rid = await rule(
            kind="param", match_key="cp", match_value="flyer", action="number", number_id=flyer
        )
        await rule(kind="referrer", match_value="Yahoo.co.jp", action="pool")
        with pytest.raises(NumberError, match="active source number"):
            await rule(kind="param", match_key="cp", action="number", number_id=ps.number_ids[0])
        with pytest.raises(NumberError, match="match_key must be one of"):
            await rule(kind="source", match_key="colour", match_value="x", action="pool")
        with pytest.raises(NumberError, match="needs a match_value"):
            await rule(kind="referrer", action="pool")
    rules = await load_rules(db, site_id=ps.site_id)
    assert (rules[0].rule_id, rules[0].number) == (rid, "+81120111222")
    assert rules[1].match_value == "yahoo.co.jp"
    choice = choose_number_source(
        Visit.from_url("https://ex.jp/?cp=flyer"),
        rules,
        target_id=ps.target_id,
        pool_id=ps.pool_id,
    )
    assert choice.number == "+81120111222"
    # A retired static number's rule stops applying.
    await retire_number(db, number_id=flyer, now_ms=T0)
    assert [r.kind for r in await load_rules(db, site_id=ps.site_id)] == ["referrer"]
