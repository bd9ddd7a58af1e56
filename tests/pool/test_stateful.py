"""Any order of acquire / heartbeat / expire / release / retire keeps the lease invariants.

Hypothesis drives a real SQLite store with a hand-moved clock. The expected choice of each
claim is computed from the lease history alone (not from the bookkeeping columns the code
maintains), so a mistake in that bookkeeping shows up as a wrong choice.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from backend.storage import open_database
from pool import leases
from pool.numbers import retire_number
from tests.pool.helpers import MIN, T0, make_pool_site, new_sessions

SIZE = 4
SESSIONS = 6
TTL = 30 * MIN
COOLDOWN = 10 * MIN


class LeaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.mkdtemp(prefix="callpath-stateful-")
        self.db = self.run(open_database(f"sqlite:///{Path(self.dir) / 'db.sqlite'}"))
        self.ps = self.run(make_pool_site(self.db, size=SIZE, ttl_ms=TTL, cooldown_ms=COOLDOWN))
        self.sessions = self.run(new_sessions(self.db, self.ps.site_id, SESSIONS))
        self.now = T0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.db.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.run(self.db.fetchall(sql, params))
        return result

    def live_lease(self, session_id: int) -> dict[str, Any] | None:
        """The session's lease that is live now (not ended, not past its ttl)."""
        found = self.rows(
            "SELECT id, number_id, overflow, expires_ms FROM leases WHERE session_id = :s"
            " AND ended_ms IS NULL AND expires_ms > :now",
            s=session_id,
            now=self.now,
        )
        return found[0] if found else None

    def expected_number(self) -> int | None:
        """The least recently released active pool number that is free and rested, by history."""
        best: tuple[int, int] | None = None
        for n in self.ps.number_ids:
            status = self.rows("SELECT status FROM tracking_numbers WHERE id = :n", n=n)[0]
            if status["status"] != "active":
                continue
            history = self.rows(
                "SELECT expires_ms, ended_ms FROM leases WHERE number_id = :n AND overflow = 0",
                n=n,
            )
            ends = [
                h["ended_ms"] if h["ended_ms"] is not None else h["expires_ms"] for h in history
            ]
            if any(end > self.now for end in ends):
                continue  # held
            released = max(ends, default=0)
            if released > self.now - COOLDOWN:
                continue  # resting
            if best is None or (released, n) < best:
                best = (released, n)
        return None if best is None else best[1]

    @rule(who=st.integers(0, SESSIONS - 1))
    def acquire(self, who: int) -> None:
        session = self.sessions[who]
        held = self.live_lease(session)
        expected = self.expected_number()
        lease = self.run(
            leases.acquire(self.db, pool_id=self.ps.pool_id, session_id=session, now_ms=self.now)
        )
        assert lease is not None  # the pool has an overflow number
        assert lease.expires_ms == self.now + TTL
        if held is not None and not held["overflow"]:
            assert lease.number_id == held["number_id"] and lease.lease_id == held["id"]
        elif expected is not None:
            assert not lease.overflow and lease.number_id == expected
        else:
            assert lease.overflow and lease.number_id == self.ps.overflow_id

    @rule(who=st.integers(0, SESSIONS - 1))
    def heartbeat(self, who: int) -> None:
        held = self.live_lease(self.sessions[who])
        lid = (
            held["id"]
            if held
            else self.rows("SELECT COALESCE(MAX(id), 0) AS m FROM leases")[0]["m"]
        )
        result = self.run(leases.heartbeat(self.db, lease_id=lid, now_ms=self.now))
        if held is not None:
            assert result == self.now + TTL
        elif lid:
            assert result is None or self.live_lease(self.sessions[who]) is None

    @rule(minutes=st.integers(0, 45))
    def tick(self, minutes: int) -> None:
        self.now += minutes * MIN

    @rule()
    def expire(self) -> None:
        self.run(leases.expire_due(self.db, pool_id=self.ps.pool_id, now_ms=self.now))
        assert not self.rows(
            "SELECT id FROM leases WHERE ended_ms IS NULL AND expires_ms <= :now", now=self.now
        )

    @rule(who=st.integers(0, SESSIONS - 1))
    def release(self, who: int) -> None:
        held = self.live_lease(self.sessions[who])
        if held is None:
            return
        assert self.run(leases.release(self.db, lease_id=held["id"], now_ms=self.now))
        assert self.live_lease(self.sessions[who]) is None

    @rule(which=st.integers(0, SIZE - 1))
    def retire(self, which: int) -> None:
        n = self.ps.number_ids[which]
        held = self.rows(
            "SELECT id FROM leases WHERE number_id = :n AND ended_ms IS NULL AND expires_ms > :now",
            n=n,
            now=self.now,
        )
        before = self.rows("SELECT status FROM tracking_numbers WHERE id = :n", n=n)[0]["status"]
        status = self.run(retire_number(self.db, number_id=n, now_ms=self.now))
        if before == "retired" or not held:
            assert status == "retired"
        else:
            assert status == "retiring"

    @invariant()
    def one_live_lease_per_number(self) -> None:
        assert not self.rows(
            "SELECT number_id FROM leases WHERE ended_ms IS NULL AND overflow = 0"
            " GROUP BY number_id HAVING COUNT(*) > 1"
        )

    @invariant()
    def one_live_lease_per_session_and_pool(self) -> None:
        assert not self.rows(
            "SELECT session_id FROM leases WHERE ended_ms IS NULL"
            " GROUP BY session_id, pool_id HAVING COUNT(*) > 1"
        )

    @invariant()
    def cooldown_respected_and_no_overlap(self) -> None:
        history = self.rows(
            "SELECT number_id, started_ms, expires_ms, ended_ms FROM leases WHERE overflow = 0"
            " ORDER BY number_id, started_ms, id"
        )
        for prev, nxt in itertools.pairwise(history):
            if prev["number_id"] != nxt["number_id"]:
                continue
            end = prev["ended_ms"] if prev["ended_ms"] is not None else prev["expires_ms"]
            assert nxt["started_ms"] >= end + COOLDOWN

    @invariant()
    def retired_numbers_are_not_leased_again(self) -> None:
        assert not self.rows(
            "SELECT l.id FROM leases l JOIN tracking_numbers n ON n.id = l.number_id"
            " WHERE n.status = 'retired' AND (l.started_ms > n.retired_ms OR l.ended_ms IS NULL)"
        )
        assert not self.rows(
            "SELECT n.id FROM tracking_numbers n WHERE n.status = 'retiring' AND NOT EXISTS"
            " (SELECT 1 FROM leases l WHERE l.number_id = n.id AND l.ended_ms IS NULL)"
        )


LeaseMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_leases_in_any_order = LeaseMachine.TestCase
