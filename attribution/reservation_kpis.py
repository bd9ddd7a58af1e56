"""Connection KPIs of reserved calls, per advertiser and portal medium, over a period.

A reservation belongs to the period its window starts in. Per advertiser and medium:

| figure | what |
|---|---|
| reservations | reservations made (cancelled ones included) |
| reminders_sent | reminder texts Twilio accepted |
| reminders_delivered | of those, the ones Twilio reported delivered |
| connected | reservations whose call connected (talk time at least the threshold) |
| connection_rate | connected / reservations not cancelled |
| avg_talk_s | mean talk time of the connected ones |
| avg_first_attempt_s | mean time from the window's start to the advertiser's first call |
| retries | calls the lead did not answer (each planned a retry text) |
| rebooks | windows moved (by the portal or the lead) |
| cancellations | reservations cancelled |
| no_shows | windows that ended without a connection (``missed``) |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pool.scope import Scope
from pool.store import Store

COLUMNS = (
    "advertiser_id",
    "advertiser",
    "medium",
    "reservations",
    "reminders_sent",
    "reminders_delivered",
    "connected",
    "connection_rate",
    "avg_talk_s",
    "avg_first_attempt_s",
    "retries",
    "rebooks",
    "cancellations",
    "no_shows",
)
NOT_SENT = ("failed", "canceled")  # Twilio took the text, then could not send it
DELIVERED = ("delivered", "read")


@dataclass
class Kpis:
    """The figures of one advertiser and medium."""

    advertiser_id: int
    advertiser: str
    medium: str
    reservations: int = 0
    reminders_sent: int = 0
    reminders_delivered: int = 0
    connected: int = 0
    connection_rate: float = 0.0
    avg_talk_s: float = 0.0
    avg_first_attempt_s: float = 0.0
    retries: int = 0
    rebooks: int = 0
    cancellations: int = 0
    no_shows: int = 0

    def row(self) -> dict[str, Any]:
        """As a flat row (the API's and the CSV's)."""
        return asdict(self)


async def kpis(db: Store, scope: Scope, *, start_ms: int, end_ms: int) -> list[Kpis]:
    """The KPIs of reservations whose window starts in ``[start_ms, end_ms)``."""
    where, params = scope.condition("r", site=None)
    rows = await db.fetchall(
        "SELECT r.id, r.advertiser_id, a.name AS advertiser, r.medium, r.status, r.talk_s,"
        " r.start_ms, r.first_attempt_ms, r.retries, r.rebooks"
        " FROM reservations r JOIN advertisers a ON a.id = r.advertiser_id"
        f" WHERE r.start_ms >= :a AND r.start_ms < :b AND {where}"
        " ORDER BY r.advertiser_id, r.medium, r.id",
        {**params, "a": start_ms, "b": end_ms},
    )
    reminders = await _reminders(db, [int(r["id"]) for r in rows])
    groups: dict[tuple[int, str], Kpis] = {}
    talk: dict[tuple[int, str], list[int]] = {}
    first: dict[tuple[int, str], list[int]] = {}
    for row in rows:
        key = (int(row["advertiser_id"]), row["medium"])
        k = groups.setdefault(key, Kpis(key[0], row["advertiser"], key[1]))
        k.reservations += 1
        sent, delivered = reminders.get(int(row["id"]), (0, 0))
        k.reminders_sent += sent
        k.reminders_delivered += delivered
        k.retries += int(row["retries"])
        k.rebooks += int(row["rebooks"])
        if row["status"] == "connected":
            k.connected += 1
            talk.setdefault(key, []).append(int(row["talk_s"]))
        elif row["status"] == "cancelled":
            k.cancellations += 1
        elif row["status"] == "missed":
            k.no_shows += 1
        if row["first_attempt_ms"] is not None:
            waited = int(row["first_attempt_ms"]) - int(row["start_ms"])
            first.setdefault(key, []).append(max(0, waited))
    for key, k in groups.items():
        live = k.reservations - k.cancellations
        k.connection_rate = round(k.connected / live, 4) if live else 0.0
        if talk.get(key):
            k.avg_talk_s = round(sum(talk[key]) / len(talk[key]), 1)
        if first.get(key):
            k.avg_first_attempt_s = round(sum(first[key]) / len(first[key]) / 1000, 1)
    return list(groups.values())


async def _reminders(db: Store, ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per reservation: reminder texts accepted by Twilio, and delivered."""
    found: dict[int, tuple[int, int]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        names = {f"r{j}": f"reservation:{rid}" for j, rid in enumerate(chunk)}
        rows = await db.fetchall(
            "SELECT ref, status FROM sms_messages WHERE kind = 'reminder' AND provider_sid"
            " IS NOT NULL AND ref IN (" + ", ".join(":" + n for n in names) + ")",
            names,
        )
        for row in rows:
            rid = int(row["ref"].split(":", 1)[1])
            sent, delivered = found.get(rid, (0, 0))
            found[rid] = (
                sent + (row["status"] not in NOT_SENT),
                delivered + (row["status"] in DELIVERED),
            )
    return found
