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


async def test_calls_and_sessions_of_a_shared_site(db: Any) -> None:
    # Site b1 (B's) shows a target of A: the call to it is A's, B owns the site (issue #16).
    ids = await _world(db)
    async with db.write() as tx:
        target = await tx.fetchval(
            "INSERT INTO targets (site_id, number, created_ms, advertiser_id)"
            " VALUES (:s, '+81399990001', 0, :a) RETURNING id",
            {"s": ids["b1"], "a": ids["A"]},
        )
        pool = await tx.fetchval(
            "INSERT INTO pools (site_id, target_id, name, ttl_ms, grace_ms, cooldown_ms,"
            " created_ms) VALUES (:s, :t, 'p', 60000, 0, 0, 0) RETURNING id",
            {"s": ids["b1"], "t": target},
        )
        number = await tx.fetchval(
            "INSERT INTO tracking_numbers (advertiser_id, number, kind, forward_to, pool_id,"
            " created_ms) VALUES (:a, '+815099990009', 'pool', '+81399990001', :p, 0)"
            " RETURNING id",
            {"a": ids["A"], "p": pool},
        )
        shown, unseen = [
            await tx.fetchval(
                "INSERT INTO sessions (site_id, started_ms, last_seen_ms) VALUES (:s, 0, 0)"
                " RETURNING id",
                {"s": ids["b1"]},
            )
            for _ in range(2)
        ]
        await tx.execute(
            "INSERT INTO leases (pool_id, number_id, session_id, started_ms, last_seen_ms,"
            " expires_ms, ended_ms) VALUES (:p, :n, :s, 0, 0, 1, 1)",
            {"p": pool, "n": number, "s": shown},
        )
        calls = {}
        for name, adv, site in (("to_a", "A", "b1"), ("to_b", "B", "b1"), ("a_home", "A", "a1")):
            calls[name] = await tx.fetchval(
                "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id,"
                " tracking_number, started_ms, created_ms, updated_ms)"
                " VALUES ('t', :c, :a, :s, '', 0, 0, 0) RETURNING id",
                {"c": f"scope-{name}", "a": ids[adv], "s": ids[site]},
            )

    async def found(table: str, alias: str, scope: Scope) -> set[int]:
        rule = scope.call_condition if table == "calls" else scope.session_condition
        where, params = rule(alias)
        rows = await db.fetchall(f"SELECT {alias}.id FROM {table} {alias} WHERE {where}", params)
        return {r["id"] for r in rows}

    a, b = Scope.of(ids["A"]), Scope.of(ids["B"])
    assert await found("calls", "c", a) == {calls["to_a"], calls["a_home"]}
    assert await found("calls", "c", b) == {calls["to_a"], calls["to_b"]}  # B owns b1
    assert await found("calls", "c", a.narrow(site_id=ids["b1"])) == {calls["to_a"]}
    assert await found("calls", "c", Scope(frozenset())) == set()
    sessions_a = await found("sessions", "s", a)
    assert shown in sessions_a and unseen not in sessions_a
    assert {shown, unseen} <= await found("sessions", "s", b)
    assert await found("sessions", "s", a.narrow(site_id=ids["a2"])) == {
        r["id"]
        for r in await db.fetchall("SELECT id FROM sessions WHERE site_id = :s", {"s": ids["a2"]})
    }
    assert a.allows_call(ids["A"], ids["B"], ids["b1"]) and b.allows_call(ids["A"], ids["B"], None)
    assert not a.allows_call(ids["B"], ids["B"], ids["b1"]) and not a.allows_call(None, None, None)
