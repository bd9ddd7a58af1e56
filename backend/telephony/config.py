"""Per-advertiser call settings: blocked callers (着信拒否) and call options."""

from __future__ import annotations

from typing import Any

from backend.telephony.options import BY_COLUMN, COLUMNS
from pool.numbers import NumberError, to_e164
from pool.store import Store, now_ms

BLOCK_KINDS = ("exact", "prefix")


def block_pattern(pattern: str, kind: str, region: str = "JP") -> str:
    """The stored form of a block: an E.164 number, or a '+digits' prefix."""
    if kind not in BLOCK_KINDS:
        raise ValueError(f"kind must be one of {', '.join(BLOCK_KINDS)}")
    text = pattern.strip()
    if kind == "exact":
        try:
            return to_e164(text, region)
        except NumberError as exc:
            raise ValueError(str(exc)) from exc
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") or not 1 <= len(digits) <= 15:
        raise ValueError(f"a prefix is '+' and 1 to 15 digits, e.g. +8150: {pattern!r}")
    return "+" + digits


async def _advertiser(db: Store, advertiser_id: int) -> None:
    if not await db.fetchval("SELECT 1 FROM advertisers WHERE id = :a", {"a": advertiser_id}):
        raise LookupError(f"no advertiser {advertiser_id}")


async def block(
    db: Store, *, advertiser_id: int, pattern: str, kind: str = "exact", note: str = ""
) -> str:
    """Refuse calls from a number (or every number with a prefix); return what is stored."""
    stored = block_pattern(pattern, kind)
    await _advertiser(db, advertiser_id)
    await db.execute(
        "INSERT INTO blocked_callers (advertiser_id, pattern, kind, note, created_ms)"
        " VALUES (:a, :p, :k, :n, :t) ON CONFLICT (advertiser_id, pattern, kind) DO NOTHING",
        {"a": advertiser_id, "p": stored, "k": kind, "n": note[:200], "t": now_ms()},
    )
    return stored


async def unblock(db: Store, *, advertiser_id: int, pattern: str, kind: str = "exact") -> bool:
    """Remove a block; False when there was none."""
    stored = block_pattern(pattern, kind)
    return bool(
        await db.execute(
            "DELETE FROM blocked_callers WHERE advertiser_id = :a AND pattern = :p AND kind = :k",
            {"a": advertiser_id, "p": stored, "k": kind},
        )
    )


async def blocked_list(db: Store, advertiser_id: int | None = None) -> list[dict[str, Any]]:
    """The blocks (of one advertiser or all)."""
    sql = "SELECT advertiser_id, pattern, kind, note FROM blocked_callers"
    if advertiser_id is None:
        return await db.fetchall(sql + " ORDER BY advertiser_id, pattern")
    return await db.fetchall(
        sql + " WHERE advertiser_id = :a ORDER BY pattern", {"a": advertiser_id}
    )


async def set_options(db: Store, *, advertiser_id: int, **values: Any) -> dict[str, Any]:
    """Set some of an advertiser's call options, named by their ``call_options`` column
    (:data:`~backend.telephony.options.CALL_OPTIONS`); a value of None goes back to the
    setting. Returns every column's stored value."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown call options: {', '.join(sorted(unknown))}")
    checked = {name: BY_COLUMN[name].check(value) for name, value in values.items()}
    await _advertiser(db, advertiser_id)
    columns = ", ".join(COLUMNS)
    placeholders = ", ".join(f":{c}" for c in COLUMNS)
    updates = ", ".join(f"{c} = :{c}" for c in COLUMNS)
    async with db.write() as tx:
        row = await tx.fetchone(
            "SELECT * FROM call_options WHERE advertiser_id = :a", {"a": advertiser_id}
        )
        current = {c: (row[c] if row else None) for c in COLUMNS}
        current.update(checked)
        params = {**current, "a": advertiser_id, "t": now_ms()}
        await tx.execute(
            f"INSERT INTO call_options (advertiser_id, {columns}, updated_ms)"
            f" VALUES (:a, {placeholders}, :t)"
            f" ON CONFLICT (advertiser_id) DO UPDATE SET {updates}, updated_ms = :t",
            params,
        )
    return current
