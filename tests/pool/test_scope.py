"""pool.scope.Scope: the tenant condition, rendered for any alias and run on both stores."""

from __future__ import annotations

from typing import Any

import pytest

from pool.scope import EVERYTHING, Scope, scope_of


async def _world(db: Any) -> dict[str, int]:
    """Two advertisers; A has two sites, B one; one session on each site."""
    ids: dict[str, int] = {}
    async with db.write() as tx:
        for name in ("A", "B"):
            ids[name] = await tx.fetchval(
                "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0) RETURNING id",
                {"n": f"scope-{name}"},
            )
        for key, adv in (("a1", "A"), ("a2", "A"), ("b1", "B")):
            ids[key] = await tx.fetchval(
                "INSERT INTO sites (advertiser_id, site_key, name, created_ms)"
                " VALUES (:a, :k, :k, 0) RETURNING id",
                {"a": ids[adv], "k": f"scope-{key}"},
            )
            await tx.execute(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms) VALUES (:s, 0, 0)",
                {"s": ids[key]},
            )
    return ids


async def _sites(db: Any, scope: Scope, **columns: Any) -> set[int]:
    where, params = scope.condition("st", **columns)
    rows = await db.fetchall(
        f"SELECT st.id FROM sites st WHERE st.site_key LIKE 'scope-%' AND {where}", params
    )
    return {r["id"] for r in rows}


async def _session_sites(db: Any, scope: Scope) -> set[int]:
    # Sessions have no advertiser column: the advertiser is the site's.
    where, params = scope.condition("s", advertiser=None)
    rows = await db.fetchall(f"SELECT s.site_id FROM sessions s WHERE {where}", params)
    return {r["site_id"] for r in rows}


async def test_the_condition_keeps_exactly_the_scope_on_both_stores(db: Any) -> None:
    w = await _world(db)
    a, b = w["A"], w["B"]
    assert await _sites(db, EVERYTHING, site="id") == {w["a1"], w["a2"], w["b1"]}
    assert await _sites(db, Scope.of(a), site="id") == {w["a1"], w["a2"]}
    assert await _sites(db, Scope.of(a, w["a2"]), site="id") == {w["a2"]}
    assert await _sites(db, Scope(frozenset({a, b})), site="id") == {w["a1"], w["a2"], w["b1"]}
    # A filter outside the scope reaches nothing, never more.
    assert await _sites(db, Scope.of(a).narrow(site_id=w["b1"]), site="id") == set()
    assert await _sites(db, Scope.of(a).narrow(advertiser_id=b), site="id") == set()
    assert await _session_sites(db, Scope.of(b)) == {w["b1"]}
    assert await _session_sites(db, Scope.of(a).narrow(site_id=w["a1"])) == {w["a1"]}
    # A table without sites, narrowed to a site: the site's advertiser.
    where, params = Scope.of(None, w["b1"]).condition("x", advertiser="id", site=None)
    rows = await db.fetchall(f"SELECT x.id FROM advertisers x WHERE {where}", params)
    assert [r["id"] for r in rows] == [b]


def test_rendering_for_aliases_columns_and_names() -> None:
    assert EVERYTHING.condition("c") == ("1 = 1", {})
    assert EVERYTHING.and_condition("c") == ("", {})
    assert EVERYTHING.where_condition("c") == ("", {})
    assert Scope.of(7).condition("c") == ("c.advertiser_id = :scope_adv", {"scope_adv": 7})
    assert Scope.of(7).and_condition(advertiser="owner") == (
        " AND owner = :scope_adv",
        {"scope_adv": 7},
    )
    where, params = Scope.of(7, 3).condition("n", name="other")
    assert where == "n.advertiser_id = :other_adv AND n.site_id = :other_site"
    assert params == {"other_adv": 7, "other_site": 3}
    where, params = Scope(frozenset({2, 1})).condition("t", site=None)
    assert where == "t.advertiser_id IN (:scope_adv0, :scope_adv1)"
    assert params == {"scope_adv0": 1, "scope_adv1": 2}
    assert Scope(frozenset()).condition("c") == ("1 = 0", {})
    assert scope_of(None) is EVERYTHING


def test_names_spliced_into_sql_must_be_identifiers() -> None:
    with pytest.raises(ValueError):
        Scope.of(1).condition("c; DROP TABLE calls")
    with pytest.raises(ValueError):
        Scope.of(1).condition("c", advertiser="advertiser_id OR 1=1")
    with pytest.raises(ValueError):
        Scope.of(1).condition("c", advertiser=None, site=None)


def test_allows_and_the_single_ids() -> None:
    member = Scope.of(5)
    assert member.allows(5) and not member.allows(6)
    assert not member.allows(None)  # an unmatched call is no member's
    assert EVERYTHING.allows(None) and EVERYTHING.allows(6)
    assert member.advertiser_id == 5 and member.site_id is None
    assert EVERYTHING.advertiser_id is None
    # A scope that reaches nothing has no single id: None would mean "every advertiser".
    with pytest.raises(ValueError):
        _ = member.narrow(advertiser_id=6).advertiser_id
    assert member.narrow(site_id=9).allows(5, 9) and not member.narrow(site_id=9).allows(5, 8)
