"""Recorded conversion batches: listed with their rows, downloaded again, voided.

Every recorded offline conversion file (``attribution.conversions.export_conversions``) is
kept in ``conversion_batches`` in the same unit of work that writes its calls to the
ledger: the file's exact bytes and the (call, click id) pairs it holds. A file that was
lost, or whose upload failed, is downloaded again byte for byte; a batch that never reached
the platform is voided, which takes its calls out of the ledger so the next export of
their period includes them again (the batch itself stays listed, marked voided, with who
voided it and when).

Scope: a batch carries the advertiser it was exported for (the token's advertiser, the
``advertiser_id`` asked for, or the site's advertiser when one site was asked for). A
scoped reader (``scope`` = an advertiser id) sees only batches of that advertiser; batches
made for every advertiser at once (``advertiser_id`` NULL) are seen by unscoped readers
(administrators) only, since they hold other advertisers' calls.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from pool.scope import scope_of
from pool.store import Store, Tx, and_given, from_row

_COLUMNS = (
    "id, platform, batch, advertiser_id, site_id, start_ms, end_ms, row_count, created_ms,"
    " created_by, voided_ms, voided_by, content IS NOT NULL AS has_file"
)


class AlreadyVoided(Exception):
    """The batch was voided before."""


@dataclass(frozen=True)
class Batch:
    """One recorded conversion file."""

    id: int
    platform: str
    batch: str
    advertiser_id: int | None
    site_id: int | None
    start_ms: int | None
    end_ms: int | None
    rows: int
    created_ms: int
    created_by: str
    voided_ms: int | None
    voided_by: str
    has_file: bool

    def as_json(self) -> dict[str, Any]:
        """The batch as the API shows it."""
        return {
            "id": self.id,
            "platform": self.platform,
            "batch": self.batch,
            "advertiser_id": self.advertiser_id,
            "site_id": self.site_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "rows": self.rows,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "voided": self.voided_ms is not None,
            "voided_ms": self.voided_ms,
            "voided_by": self.voided_by or None,
            "has_file": self.has_file,
        }


def _batch(row: Any) -> Batch:
    return from_row(Batch, row, rows="row_count")


async def record_batch(
    tx: Tx,
    *,
    platform: str,
    batch: str,
    rows: list[tuple[int, str]],
    filename: str,
    media_type: str,
    content: bytes,
    advertiser_id: int | None,
    site_id: int | None,
    start_ms: int | None,
    end_ms: int | None,
    created_by: str,
    now_ms: int,
) -> int:
    """Keep a recorded file and its (call id, click id) rows, in the export's unit of work.

    Returns the batch's id.
    """
    batch_id: int = await tx.fetchval(
        "INSERT INTO conversion_batches (platform, batch, advertiser_id, site_id, start_ms,"
        " end_ms, row_count, rows_json, filename, media_type, content, created_ms, created_by)"
        " VALUES (:p, :b, :a, :s, :st, :en, :n, :r, :f, :m, :c, :t, :by) RETURNING id",
        {
            "p": platform,
            "b": batch,
            "a": advertiser_id,
            "s": site_id,
            "st": start_ms,
            "en": end_ms,
            "n": len(rows),
            "r": orjson.dumps(rows).decode(),
            "f": filename,
            "m": media_type,
            "c": base64.b64encode(content).decode("ascii"),
            "t": now_ms,
            "by": created_by,
        },
    )
    return batch_id


async def list_batches(
    db: Store,
    *,
    scope: int | None,
    platform: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[Batch]:
    """Batches newest first, within the reader's scope (None: every batch)."""
    where, params = scope_of(scope).and_condition(site=None)
    where += and_given(
        params, ("platform = :p", "p", platform), ("id < :before", "before", before_id)
    )
    params["limit"] = limit
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM conversion_batches WHERE 1 = 1{where}"
        " ORDER BY id DESC LIMIT :limit",
        params,
    )
    return [_batch(r) for r in rows]


async def get_batch(db: Store, batch_id: int, *, scope: int | None) -> Batch | None:
    """One batch, or None when there is none the reader may see."""
    where, params = scope_of(scope).and_condition(site=None)
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM conversion_batches WHERE id = :id{where}",
        {"id": batch_id, **params},
    )
    return None if row is None else _batch(row)


async def batch_rows(db: Store, batch_id: int, *, scope: int | None) -> list[dict[str, Any]]:
    """The calls a batch holds: call id, click id, when the call started, its site."""
    where, params = scope_of(scope).and_condition(site=None)
    raw = await db.fetchval(
        f"SELECT rows_json FROM conversion_batches WHERE id = :id{where}",
        {"id": batch_id, **params},
    )
    pairs = orjson.loads(raw) if raw else []
    started: dict[int, Any] = {}
    ids = [int(p[0]) for p in pairs]
    for lo in range(0, len(ids), 500):
        chunk = ids[lo : lo + 500]
        names = {f"c{i}": v for i, v in enumerate(chunk)}
        marks = ", ".join(":" + n for n in names)
        for r in await db.fetchall(
            f"SELECT id, started_ms, site_id FROM calls WHERE id IN ({marks})", names
        ):
            started[int(r["id"])] = r
    out = []
    for call_id, click_id in pairs:
        call = started.get(int(call_id))
        out.append(
            {
                "call_id": int(call_id),
                "click_id": click_id,
                "started_ms": None if call is None else call["started_ms"],
                "site_id": None if call is None else call["site_id"],
            }
        )
    return out


@dataclass(frozen=True)
class BatchFile:
    """A batch's file as it was first given out."""

    filename: str
    media_type: str
    content: bytes


async def batch_file(db: Store, batch_id: int, *, scope: int | None) -> BatchFile | None:
    """The recorded file's exact bytes (None: no such batch, or kept no file)."""
    where, params = scope_of(scope).and_condition(site=None)
    row = await db.fetchone(
        f"SELECT filename, media_type, content FROM conversion_batches WHERE id = :id{where}",
        {"id": batch_id, **params},
    )
    if row is None or row["content"] is None:
        return None
    return BatchFile(row["filename"], row["media_type"], base64.b64decode(row["content"]))


async def void_batch(
    db: Store, batch_id: int, *, scope: int | None, by: str, now_ms: int
) -> Batch | None:
    """Void a batch: its calls leave the ledger (the next export takes them again).

    None when the reader sees no such batch; AlreadyVoided when it was voided before.
    One unit of work: the mark and the release happen together or not at all.
    """
    where, params = scope_of(scope).and_condition(site=None)
    async with db.write() as tx:
        row = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM conversion_batches WHERE id = :id{where}",
            {"id": batch_id, **params},
        )
        if row is None:
            return None
        if row["voided_ms"] is not None:
            raise AlreadyVoided(row["batch"])
        await tx.execute(
            "UPDATE conversion_batches SET voided_ms = :t, voided_by = :by WHERE id = :id",
            {"t": now_ms, "by": by, "id": batch_id},
        )
        await tx.execute(
            "DELETE FROM conversion_ledger WHERE platform = :p AND batch = :b",
            {"p": row["platform"], "b": row["batch"]},
        )
        # A conversion action's file (attribution.conversion_actions) keeps its own ledger.
        await tx.execute("DELETE FROM conversion_sent WHERE batch = :b", {"b": row["batch"]})
    voided = await get_batch(db, batch_id, scope=scope)
    assert voided is not None
    return voided
