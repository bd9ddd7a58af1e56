"""Notification targets per advertiser, and what a notification says about a call.

A notification tells its receiver no more than the person who set the target up may see
now: caller numbers masked by the API's rule unless that user may see callers, and
nothing once they may no longer see the advertiser (``target_rights``).
"""

from __future__ import annotations

import re
from typing import Any

from attribution import outbound
from attribution.exports import mask_caller
from pool.scope import scope_of
from pool.store import Store, now_ms

KINDS = ("webhook", "email")
# A call starting or ending; "reservation": every event of a reserved call (booked, reminder
# sent, connected, missed, rebooked, cancelled; docs/reservations.md).
EVENTS = ("started", "completed", "reservation")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


async def check_target(
    kind: str, address: str, event: str, policy: outbound.OutboundPolicy | None = None
) -> None:
    """Raise ValueError when a target could never be delivered to, or a webhook points
    somewhere this server may not send (``attribution.outbound``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}")
    if kind == "webhook":
        await outbound.check_destination(address, policy or outbound.OutboundPolicy())
    if kind == "email" and not _EMAIL.match(address):
        raise ValueError(f"not an email address: {address!r}")


async def add_target(
    db: Store,
    *,
    advertiser_id: int,
    kind: str,
    address: str,
    secret: str = "",
    event: str,
    policy: outbound.OutboundPolicy | None = None,
    created_by: int | None = None,
    show_callers: bool = False,
) -> int:
    """Add a notification target and return its id.

    ``created_by`` is the dashboard user setting it up: deliveries follow that user's
    rights. Without one (the command line, run by the operator) ``show_callers`` decides
    whether caller numbers are sent in full.
    """
    await check_target(kind, address, event, policy)
    async with db.write() as tx:
        if not await tx.fetchval("SELECT 1 FROM advertisers WHERE id = :a", {"a": advertiser_id}):
            raise LookupError(f"no advertiser {advertiser_id}")
        target_id: int = await tx.fetchval(
            "INSERT INTO notification_targets (advertiser_id, kind, address, secret, event,"
            " created_ms, created_by, show_callers)"
            " VALUES (:a, :k, :addr, :s, :e, :t, :by, :show) RETURNING id",
            {
                "a": advertiser_id,
                "k": kind,
                "addr": address,
                "s": secret,
                "e": event,
                "t": now_ms(),
                "by": created_by,
                "show": int(show_callers and created_by is None),
            },
        )
    return target_id


async def list_targets(db: Store, advertiser_id: int | None = None) -> list[dict[str, Any]]:
    """Targets (of one advertiser, or all), secrets left out."""
    sql = (
        "SELECT id, advertiser_id, kind, address, event, active, created_by, show_callers"
        " FROM notification_targets"
    )
    where, params = scope_of(advertiser_id).where_condition(site=None)
    return await db.fetchall(sql + where + " ORDER BY id", params)


async def remove_target(db: Store, target_id: int) -> bool:
    """Deactivate a target (its past deliveries stay)."""
    return bool(
        await db.execute(
            "UPDATE notification_targets SET active = 0 WHERE id = :id", {"id": target_id}
        )
    )


# Per target: whether its owner may still see the advertiser's calls (``allowed``) and
# their caller numbers (``show_callers``), as of now. A user's current row decides, so a
# demoted or moved user's targets follow at once; a target without a user (the command
# line, or older than ``created_by``) uses its own ``show_callers``.
TARGETS_SQL = (
    "SELECT n.id, n.kind, n.address, n.secret,"
    " CASE WHEN n.created_by IS NULL THEN 1"
    "  WHEN u.id IS NULL THEN 0"
    "  WHEN u.role = 'admin' OR u.advertiser_id = n.advertiser_id THEN 1 ELSE 0 END AS allowed,"
    " CASE WHEN n.created_by IS NULL THEN n.show_callers"
    "  ELSE COALESCE(u.can_see_callers, 0) END AS show_callers"
    " FROM notification_targets n LEFT JOIN users u ON u.id = n.created_by"
    " WHERE n.advertiser_id = :a AND n.event = :e AND n.active = 1 ORDER BY n.id"
)


async def target_as_seen(db: Store, target_id: int) -> dict[str, Any] | None:
    """One active target with what its owner may see now (``allowed``, ``show_callers``:
    the rule of :data:`TARGETS_SQL`), or None."""
    rows = await db.fetchall(
        TARGETS_SQL.replace("n.advertiser_id = :a AND n.event = :e", "n.id = :id"),
        {"id": target_id},
    )
    return rows[0] if rows else None


def as_seen_by(call: dict[str, Any], show_callers: bool) -> dict[str, Any]:
    """The call as a target's owner may see it: the caller masked unless they may see
    callers (the rule of the API and exports, ``attribution.exports.mask_caller``)."""
    if show_callers or not call.get("caller"):
        return call
    return {**call, "caller": mask_caller(call["caller"])}


async def call_payload(db: Store, call_id: int) -> dict[str, Any] | None:
    """The call as a notification describes it, with the touch that led to it."""
    row = await db.fetchone(
        "SELECT c.id, c.provider, c.provider_call_id, c.advertiser_id, c.site_id,"
        " c.tracking_number, c.caller, c.forwarded_to, c.started_ms, c.answered_ms,"
        " c.ended_ms, c.status, c.duration_s, c.talk_s, c.recording_url, c.match_method,"
        " c.match_candidates, c.session_id, c.qualified, c.first_time,"
        # Its call flow (issue #18): who answered, the menu choices, the queue, a voicemail.
        " c.answered_by, c.menu_path, c.queue_wait_s, c.voicemail_url,"
        # The touch frozen on the call when it was matched, not its session's latest.
        " c.touch_channel AS channel, c.touch_source AS source, c.touch_medium AS medium,"
        " c.touch_campaign AS campaign, c.touch_ad_group AS ad_group,"
        " c.touch_keyword AS keyword, c.touch_landing_url AS landing_url,"
        " n.source_label, st.timezone"
        " FROM calls c LEFT JOIN sites st ON st.id = c.site_id"
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
