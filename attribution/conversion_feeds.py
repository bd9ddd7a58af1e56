"""Feed URLs: an action's conversion file fetched by a scheduler instead of uploaded by hand.

Google Ads' scheduled imports (and any other scheduler) fetch a file from a URL on a
schedule. Each feed is a secret URL of one action (``/feeds/conversions/<token>.csv``): the
token is shown once and only its SHA-256 is kept; a revoked feed answers 404 like a token
that never was. Each fetch answers the action's conversions that **this feed** has not given
yet (its own destination ``feed:<id>`` in ``conversion_sent``), from calls of the last
:data:`LOOKBACK_DAYS` days, and records them as it answers, so two fetches never give the
same conversion and two feeds of one action do not take each other's rows.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from attribution import conversions
from attribution.conversion_actions import Action, export_action, get_action
from attribution.upload_policy import UploadPolicy
from pool.scope import EVERYTHING, Scope
from pool.store import Store, from_row

# Google Ads takes click conversions up to 90 days after the click.
LOOKBACK_DAYS = 90
_DAY_MS = 86_400_000
TOKEN_BYTES = 24


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Feed:
    """A feed of an action (never its token)."""

    id: int
    action_id: int
    label: str
    created_ms: int
    created_by: str
    revoked_ms: int | None
    last_fetch_ms: int | None

    def as_json(self) -> dict[str, Any]:
        """The feed as the API lists it."""
        return {
            "id": self.id,
            "action_id": self.action_id,
            "label": self.label,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "revoked": self.revoked_ms is not None,
            "revoked_ms": self.revoked_ms,
            "last_fetch_ms": self.last_fetch_ms,
        }


def _feed(row: Any) -> Feed:
    return from_row(Feed, row)


async def create_feed(
    db: Store, action: Action, *, label: str, by: str, now_ms: int
) -> tuple[Feed, str]:
    """A new feed of ``action`` and its token (shown once: only its digest is kept)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with db.write() as tx:
        feed_id = await tx.fetchval(
            "INSERT INTO conversion_feeds (action_id, token_sha256, label, created_ms,"
            " created_by) VALUES (:a, :h, :l, :t, :by) RETURNING id",
            {"a": action.id, "h": _digest(token), "l": label[:100], "t": now_ms, "by": by[:200]},
        )
        row = await tx.fetchone("SELECT * FROM conversion_feeds WHERE id = :id", {"id": feed_id})
    assert row is not None
    return _feed(row), token


async def list_feeds(db: Store, action_id: int) -> list[Feed]:
    """The action's feeds, revoked ones included, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM conversion_feeds WHERE action_id = :a ORDER BY id DESC", {"a": action_id}
    )
    return [_feed(r) for r in rows]


async def revoke_feed(db: Store, feed_id: int, scope: Scope, *, now_ms: int) -> Feed | None:
    """Revoke a feed whose action is in ``scope`` (None when not found; revoking twice keeps
    the first time)."""
    row = await db.fetchone("SELECT * FROM conversion_feeds WHERE id = :id", {"id": feed_id})
    if row is None or await get_action(db, int(row["action_id"]), scope) is None:
        return None
    async with db.write() as tx:
        await tx.execute(
            "UPDATE conversion_feeds SET revoked_ms = :t WHERE id = :id AND revoked_ms IS NULL",
            {"t": now_ms, "id": feed_id},
        )
        row = await tx.fetchone("SELECT * FROM conversion_feeds WHERE id = :id", {"id": feed_id})
    assert row is not None
    return _feed(row)


async def fetch_feed(
    db: Store, token: str, *, now_ms: int, policy: UploadPolicy | None = None
) -> conversions.ConversionFile | None:
    """The feed's new conversions as the platform's file, recorded as given (None: no live
    feed has this token, or its action is gone)."""
    if not token or len(token) > 200:
        return None
    row = await db.fetchone(
        "SELECT * FROM conversion_feeds WHERE token_sha256 = :h AND revoked_ms IS NULL",
        {"h": _digest(token)},
    )
    if row is None:
        return None
    action = await get_action(db, int(row["action_id"]), EVERYTHING)
    if action is None:
        return None
    file = await export_action(
        db,
        action,
        start_ms=max(0, now_ms - LOOKBACK_DAYS * _DAY_MS),
        end_ms=now_ms + 1,
        now_ms=now_ms,
        destination=f"feed:{row['id']}",
        created_by=f"feed {row['id']}",
        policy=policy,
    )
    await db.execute(
        "UPDATE conversion_feeds SET last_fetch_ms = :t WHERE id = :id",
        {"t": now_ms, "id": row["id"]},
    )
    return file
