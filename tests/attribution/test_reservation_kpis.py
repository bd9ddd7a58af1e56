"""The connection KPIs of reserved calls: a seeded month against a hand count, both stores."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from attribution.reservation_kpis import kpis
from backend.storage import seed
from pool.scope import Scope
from pool.store import Store

MIN = 60_000
# December 2026 in Tokyo: from 2026-11-30 15:00 UTC to 2026-12-31 15:00 UTC.
DEC = 1_796_050_800_000
JAN = DEC + 31 * 86_400_000


async def _month(db: Store) -> tuple[int, int, str]:
    admin = seed.UserSpec("root@example.com", "pw-12345678", token="root")
    world = await seed.seed_world(
        db, [seed.TenantSpec("ABC不動産"), seed.TenantSpec("XYZ住宅")], admins=[admin]
    )
    a, b = world.tenant("ABC不動産").advertiser_id, world.tenant("XYZ住宅").advertiser_id
    async with db.write() as tx:
        [number] = await seed.add_reservation_numbers(tx, ["+815012340001"], now_ms=DEC)
        n = 0

        async def reservation(adv: int, medium: str, at: int, status: str, **fields: Any) -> int:
            nonlocal n
            n += 1
            values = {
                "advertiser_id": adv, "lead_ref": f"L{n}", "lead_phone": f"+8190{30000000 + n}",
                "medium": medium, "number_id": number, "start_ms": at, "end_ms": at + 30 * MIN,
                "hold_start_ms": at, "hold_end_ms": at + 30 * MIN, "status": status,
                "created_ms": DEC, "updated_ms": DEC, **fields,
            }  # fmt: skip
            names = ", ".join(values)
            marks = ", ".join(":" + k for k in values)
            return int(
                await tx.fetchval(
                    f"INSERT INTO reservations ({names}) VALUES ({marks}) RETURNING id", values
                )
            )

        async def reminder(rid: int, status: str) -> None:
            await tx.execute(
                "INSERT INTO sms_messages (dedupe_key, ref, kind, to_number, body, status,"
                " provider_sid, created_ms, updated_ms) VALUES (:k, :ref, 'reminder', '+81',"
                " 'x', :s, :sid, 0, 0)",
                {"k": f"r{rid}", "ref": f"reservation:{rid}", "s": status, "sid": f"SM{rid}"},
            )

        day = 86_400_000
        r1 = await reservation(a, "portal-x", DEC + day, "connected", talk_s=120,
                               first_attempt_ms=DEC + day + MIN)  # fmt: skip
        r2 = await reservation(a, "portal-x", DEC + 2 * day, "connected", talk_s=60,
                               first_attempt_ms=DEC + 2 * day + 3 * MIN, retries=1,
                               rebooks=1)  # fmt: skip
        r3 = await reservation(a, "portal-x", DEC + 3 * day, "missed",
                               first_attempt_ms=DEC + 3 * day + 5 * MIN, retries=2)  # fmt: skip
        await reservation(a, "portal-x", DEC + 4 * day, "cancelled")
        await reservation(a, "portal-x", JAN - day, "booked")
        r6 = await reservation(a, "portal-y", DEC + 5 * day, "connected", talk_s=30,
                               first_attempt_ms=DEC + 5 * day)  # fmt: skip
        await reservation(b, "portal-x", DEC + 6 * day, "missed")
        # 2026-11-30 23:30 in Tokyo... is 14:30 UTC, before December in Tokyo: not counted.
        r8 = await reservation(a, "portal-x", DEC - 30 * MIN, "connected", talk_s=999)
        # A text the lead never gets is not a reminder sent; one on a failed number neither.
        for rid, status in ((r1, "delivered"), (r2, "sent"), (r3, "delivered"), (r6, "failed"),
                            (r8, "delivered")):  # fmt: skip
            await reminder(rid, status)
        await tx.execute(
            "INSERT INTO sms_messages (dedupe_key, ref, kind, to_number, body, status,"
            " created_ms, updated_ms) VALUES ('opt', :ref, 'reminder', '+81', 'x', 'opted_out',"
            " 0, 0)",
            {"ref": f"reservation:{r1}"},
        )
    return a, b, world.tokens["root@example.com"]


HAND_COUNT = {
    ("ABC不動産", "portal-x"): dict(
        reservations=5, reminders_sent=3, reminders_delivered=2, connected=2,
        connection_rate=0.5, avg_talk_s=90.0, avg_first_attempt_s=180.0, retries=3,
        rebooks=1, cancellations=1, no_shows=1,
    ),
    ("ABC不動産", "portal-y"): dict(
        reservations=1, reminders_sent=0, reminders_delivered=0, connected=1,
        connection_rate=1.0, avg_talk_s=30.0, avg_first_attempt_s=0.0, retries=0,
        rebooks=0, cancellations=0, no_shows=0,
    ),
    ("XYZ住宅", "portal-x"): dict(
        reservations=1, reminders_sent=0, reminders_delivered=0, connected=0,
        connection_rate=0.0, avg_talk_s=0.0, avg_first_attempt_s=0.0, retries=0,
        rebooks=0, cancellations=0, no_shows=1,
    ),
}  # fmt: skip


async def test_a_seeded_month_matches_the_hand_count(db: Store) -> None:
    a, _, _ = await _month(db)
    found = {
        (k.advertiser, k.medium): k.row() for k in await kpis(db, Scope(), start_ms=DEC, end_ms=JAN)
    }
    assert set(found) == set(HAND_COUNT)
    for key, expected in HAND_COUNT.items():
        assert {f: found[key][f] for f in expected} == expected, key
    # An advertiser's own view holds only its rows.
    own = await kpis(db, Scope.of(a), start_ms=DEC, end_ms=JAN)
    assert {k.medium for k in own} == {"portal-x", "portal-y"}
    assert {k.advertiser_id for k in own} == {a}


async def test_the_api_answers_the_same_figures_as_json_and_csv(
    db: Store, client: httpx.AsyncClient
) -> None:
    _, _, secret = await _month(db)
    headers = {"Authorization": f"Bearer {secret}"}
    query = "start=2026-12-01&end=2026-12-31&tz=Asia/Tokyo"
    data = (await client.get(f"/api/reservations/kpis?{query}", headers=headers)).json()["data"]
    assert {(r["advertiser"], r["medium"]): r["connected"] for r in data} == {
        key: row["connected"] for key, row in HAND_COUNT.items()
    }
    answer = await client.get(f"/api/reservations/kpis?{query}&format=csv", headers=headers)
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    by_key = {(r["advertiser"], r["medium"]): r for r in rows}
    assert by_key[("ABC不動産", "portal-x")]["avg_talk_s"] == "90.0"
    assert by_key[("ABC不動産", "portal-x")]["connection_rate"] == "0.5"
