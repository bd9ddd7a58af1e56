"""Two app instances on one PostgreSQL database: 200 bookings at once on 10 numbers never
overlap, and every reminder is sent exactly once although an instance dies in the middle
with jobs it had claimed."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from backend.api.jobs import job_runner
from backend.settings import Settings
from backend.storage import seed
from pool import reservations as rs
from tests.conftest import make_settings
from tests.reservations.conftest import MINUTE, T0, Clock, instance, reservation_settings
from tests.reservations.test_flow import iso
from tests.support.twilio import MessagesApi

NUMBERS = seed.series("+815012350", 10)
LEADS = 200
# Windows of 30 minutes every 45 minutes from 09:00 to 20:15 in Tokyo: a number holds a
# window with its buffers for 40 minutes, so each serves each start once (160 places).
STARTS = [T0 + i * 45 * MINUTE for i in range(16)]


def client_of(app: Starlette, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_200_bookings_on_two_instances_never_overlap_and_remind_once(
    pg_database_url: str, tmp_path: Path
) -> None:
    clock = Clock(T0 - 24 * 60 * MINUTE)
    messages = MessagesApi("AC" + "2" * 32, "test-twilio-auth-token")
    # Each instance gets 10 connections for its 100 requests at once; they may wait for
    # one (on a shared test machine, longer than the default 10 s), never fail for it.
    url = pg_database_url.replace("pool_max=5", "pool_max=10")
    base = make_settings(url, db_acquire_timeout_ms=120_000)

    def settings_of(name: str) -> Settings:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        return reservation_settings(base, folder)

    async with contextlib.AsyncExitStack() as stack:
        first = instance(settings_of("a"), messages, clock)
        a = await first.__aenter__()
        b = await stack.enter_async_context(instance(settings_of("b"), messages, clock))
        member = seed.UserSpec("portal@example.com", "pw-12345678", token="portal")
        world = await seed.seed_world(a.state.db, [seed.TenantSpec("ABC不動産", users=[member])])
        advertiser = world.tenant("ABC不動産").advertiser_id
        async with a.state.db.write() as tx:
            await seed.add_reservation_numbers(tx, NUMBERS, advertiser_id=advertiser, now_ms=T0)
        token = world.tokens["portal@example.com"]
        clients = [client_of(a, token), client_of(b, token)]
        rng = random.Random(19)
        refused_first: list[int] = []

        async def book(i: int) -> tuple[int, dict[str, Any]]:
            start = rng.choice(STARTS)
            body = {
                "lead_id": f"lead-{i}",
                "phone": f"+8190{20000000 + i}",
                "consent": True,
                "start": iso(start),
                "end": iso(start + 30 * MINUTE),
            }
            answer = await clients[i % 2].post("/api/reservations", json=body)
            if answer.status_code == 409:  # the portal offers the next free window
                refused_first.append(i)
                nxt = answer.json()["error"]
                assert nxt["next_start"] is not None
                body.update(start=nxt["next_start"], end=nxt["next_end"])
                answer = await clients[(i + 1) % 2].post("/api/reservations", json=body)
            return answer.status_code, answer.json()

        began = time.monotonic()
        results = await asyncio.gather(*(book(i) for i in range(LEADS)))
        print(f"200 bookings on two instances: {time.monotonic() - began:.1f} s")
        statuses = collections.Counter(status for status, _ in results)
        # A window taken meanwhile by another lead may be refused again: never a 5xx.
        assert set(statuses) <= {201, 409}, statuses
        assert statuses[201] >= 150
        assert refused_first  # demand met full numbers: refusals named the next window

        db = b.state.db
        rows = await db.fetchall("SELECT * FROM reservations")
        assert len(rows) == statuses[201]
        assert rs.overlapping(rows) == []
        slots = await db.fetchval("SELECT COUNT(*) FROM reservation_slots")
        assert slots == sum(len(rs.Calendar().slots(r["start_ms"], r["end_ms"])) for r in rows)

        # Reminders: the instances run the jobs as the day goes on; in the middle, instance
        # a dies with a batch of reminders it has claimed and not sent.
        starts = sorted({int(r["start_ms"]) for r in rows})
        middle = len(starts) // 2
        runners = [job_runner(a, clock=clock), job_runner(b, clock=clock)]
        for start in starts[:middle]:
            clock.now = start - 15 * MINUTE
            await asyncio.gather(*(r.run_due() for r in runners))
        clock.now = starts[middle] - 15 * MINUTE
        orphaned = await runners[0].claim(clock.now)
        assert orphaned
        # Instance a goes away with those jobs claimed; a2 starts in its place.
        await clients[0].aclose()
        await first.__aexit__(None, None, None)
        await stack.enter_async_context(contextlib.aclosing(clients[1]))
        a2 = await stack.enter_async_context(instance(settings_of("a2"), messages, clock))
        runners = [job_runner(a2, clock=clock), runners[1]]
        for start in starts[middle:]:
            for at in (start - 15 * MINUTE, start - 12 * MINUTE):  # past a dead lease
                clock.now = at
                await asyncio.gather(*(r.run_due() for r in runners))

        # (Windows that ended meanwhile without a call got their rebooking text too.)
        sent = collections.Counter(m.to for m in messages.messages if "より本日" in m.body)
        assert set(sent) == {r["lead_phone"] for r in rows}
        assert set(sent.values()) == {1}, [p for p, n in sent.items() if n > 1]
        jobs = await db.fetchall(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE kind = 'reservation.reminder'"
            " GROUP BY status"
        )
        assert {j["status"]: j["n"] for j in jobs} == {"done": len(rows)}
