"""Notification targets per advertiser, and what a notification says about a call."""

from __future__ import annotations

import re
from typing import Any

from pool.store import Store, now_ms

KINDS = ("webhook", "email")
EVENTS = ("started", "completed")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def check_target(kind: str, address: str, event: str) -> None:
    """Raise ValueError when a target could never be delivered to."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}")
    if kind == "webhook" and not re.match(r"^https?://[^\s]{1,2000}$", address):
        raise ValueError(f"not an http(s) URL: {address!r}")
    if kind == "email" and not _EMAIL.match(address):
        raise ValueError(f"not an email address: {address!r}")


async def add_target(
    db: Store, *, advertiser_id: int, kind: str, address: str, secret: str = "", event: str
) -> int:
    """Add a notification target and return its id."""
    check_target(kind, address, event)
    async with db.write() as tx:
        if not await tx.fetchval("SELECT 1 FROM advertisers WHERE id = :a", {"a": advertiser_id}):
            raise LookupError(f"no advertiser {advertiser_id}")
        target_id: int = await tx.fetchval(
            "INSERT INTO notification_targets (advertiser_id, kind, address, secret, event,"
            " created_ms) VALUES (:a, :k, :addr, :s, :e, :t) RETURNING id",
            {
                "a": advertiser_id,
                "k": kind,
                "addr": address,
                "s": secret,
                "e": event,
                "t": now_ms(),
            },
        )
    return target_id


async def list_targets(db: Store, advertiser_id: int | None = None) -> list[dict[str, Any]]:
    """Targets (of one advertiser, or all), secrets left out."""
    sql = "SELECT id, advertiser_id, kind, address, event, active FROM notification_targets"
    if advertiser_id is None:
        return await db.fetchall(sql + " ORDER BY id")
    return await db.fetchall(sql + " WHERE advertiser_id = :a ORDER BY id", {"a": advertiser_id})


async def remove_target(db: Store, target_id: int) -> bool:
    """Deactivate a target (its past deliveries stay)."""
    return bool(
        await db.execute(
            "UPDATE notification_targets SET active = 0 WHERE id = :id", {"id": target_id}
        )
    )


async def call_payload(db: Store, call_id: int) -> dict[str, Any] | None:
    """The call as a notification describes it, with the source of its session."""
    row = await db.fetchone(
        "SELECT c.id, c.provider, c.provider_call_id, c.advertiser_id, c.site_id,"
        " c.tracking_number, c.caller, c.forwarded_to, c.started_ms, c.answered_ms,"
        " c.ended_ms, c.status, c.duration_s, c.talk_s, c.recording_url, c.match_method,"
        " c.match_candidates, c.session_id, c.qualified, c.first_time,"
        " s.channel, s.source, s.medium, s.campaign, s.ad_group, s.keyword, s.landing_url,"
        " n.source_label, st.timezone"
        " FROM calls c LEFT JOIN sessions s ON s.id = c.session_id"
        " LEFT JOIN sites st ON st.id = c.site_id"
        " LEFT JOIN tracking_numbers n ON n.id = c.number_id WHERE c.id = :id",
        {"id": call_id},
    )
    if row is None:
        return None
    for key in ("channel", "source", "medium", "campaign", "ad_group", "keyword"):
        row[key] = row[key] or ""
    row["landing_url"] = row["landing_url"] or ""
    row["source_label"] = row["source_label"] or ""
    row["timezone"] = row["timezone"] or "Asia/Tokyo"
    return row
