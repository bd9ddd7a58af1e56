"""Storing call flows: every version of a target's flow kept, the newest in force.

Saving checks the document first (:func:`flowdoc.parse`): a flow that does not parse is
never stored. A rollback stores the chosen version's document again as a new version, so
the history only grows and says who went back to what. Removing a flow stores an empty
document: calls to the target are forwarded plainly again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from backend.telephony import audio, flowdoc
from backend.telephony.flowdoc import Flow
from pool.scope import Scope
from pool.store import Store, Tx, now_ms

MAX_NOTE = 200


@dataclass(frozen=True)
class LoadedFlow:
    """A target's flow in force, as the routing table keeps it.

    ``flow`` None with ``error`` set: the stored document no longer parses (a later
    version of the format, a hand edit): its calls are forwarded plainly, and say why.
    """

    target_id: int
    advertiser_id: int
    site_id: int
    target_number: str
    version: int
    timezone: str
    flow: Flow | None
    error: str = ""


def _target_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    where, params = scope.and_condition("s", site="id")
    sql = (
        "SELECT t.id, t.site_id, t.number, s.advertiser_id, s.timezone FROM targets t"
        " JOIN sites s ON s.id = t.site_id WHERE t.id = :target" + where
    )
    return sql, params


async def target_of(db: Store | Tx, scope: Scope, target_id: int) -> dict[str, Any]:
    """The target ``target_id`` within ``scope`` (LookupError: none there)."""
    sql, params = _target_sql(scope)
    row = await db.fetchone(sql, {**params, "target": target_id})
    if row is None:
        raise LookupError(f"no target {target_id}")
    return dict(row)


def _document(raw: Any) -> tuple[str, Flow]:
    flow = flowdoc.parse(raw)
    body = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
    if len(body) > flowdoc.MAX_BYTES:
        raise flowdoc.FlowError("flow", f"at most {flowdoc.MAX_BYTES} bytes")
    return body, flow


async def _check_audio(tx: Tx, flow: Flow | None, advertiser_id: int) -> None:
    """Every uploaded file the flow plays is one of the target's advertiser."""
    if flow is None:
        return
    named = flow.audio_ids()
    owners = await audio.owners(tx, set(named))
    for audio_id, step in named.items():
        if owners.get(audio_id) != advertiser_id:
            raise flowdoc.FlowError(f"steps.{step}.prompt", f"no uploaded audio {audio_id}")


async def _append(
    tx: Tx, target: dict[str, Any], document: str, author: str, note: str, rolled_back: int | None
) -> int:
    latest = await tx.fetchval(
        "SELECT MAX(version) FROM call_flows WHERE target_id = :t", {"t": target["id"]}
    )
    version = int(latest or 0) + 1
    await tx.execute(
        "INSERT INTO call_flows (advertiser_id, target_id, version, document, author, note,"
        " rolled_back_from, created_ms) VALUES (:a, :t, :v, :d, :by, :note, :rb, :now)",
        {
            "a": target["advertiser_id"],
            "t": target["id"],
            "v": version,
            "d": document,
            "by": author[:200],
            "note": note[:MAX_NOTE],
            "rb": rolled_back,
            "now": now_ms(),
        },
    )
    return version


async def save(
    db: Store, scope: Scope, target_id: int, raw: Any, *, author: str, note: str = ""
) -> int:
    """Check and store ``raw`` as the target's new flow (None removes it); its version."""
    document, flow = ("", None) if raw is None else _document(raw)
    async with db.write() as tx:
        target = await target_of(tx, scope, target_id)
        await _check_audio(tx, flow, int(target["advertiser_id"]))
        return await _append(tx, target, document, author, note, None)


async def rollback(db: Store, scope: Scope, target_id: int, version: int, *, author: str) -> int:
    """Put version ``version`` back in force (as a new version); the new version."""
    async with db.write() as tx:
        target = await target_of(tx, scope, target_id)
        old = await tx.fetchval(
            "SELECT document FROM call_flows WHERE target_id = :t AND version = :v",
            {"t": target_id, "v": version},
        )
        if old is None:
            raise LookupError(f"target {target_id} has no flow version {version}")
        return await _append(tx, target, str(old), author, f"rollback to {version}", version)


def _out(row: dict[str, Any], with_document: bool = True) -> dict[str, Any]:
    out = {
        "target_id": row["target_id"],
        "version": row["version"],
        "author": row["author"],
        "note": row["note"],
        "rolled_back_from": row["rolled_back_from"],
        "created_ms": row["created_ms"],
    }
    if with_document:
        out["flow"] = orjson.loads(row["document"]) if row["document"] else None
    return out


async def current(db: Store, scope: Scope, target_id: int) -> dict[str, Any] | None:
    """The target's flow in force with its version (None: it never had one)."""
    await target_of(db, scope, target_id)
    row = await db.fetchone(
        "SELECT * FROM call_flows WHERE target_id = :t ORDER BY version DESC LIMIT 1",
        {"t": target_id},
    )
    return None if row is None else _out(row)


async def version(db: Store, scope: Scope, target_id: int, number: int) -> dict[str, Any]:
    """One stored version of the target's flow (LookupError: no such version)."""
    await target_of(db, scope, target_id)
    row = await db.fetchone(
        "SELECT * FROM call_flows WHERE target_id = :t AND version = :v",
        {"t": target_id, "v": number},
    )
    if row is None:
        raise LookupError(f"target {target_id} has no flow version {number}")
    return _out(row)


async def history(db: Store, scope: Scope, target_id: int) -> list[dict[str, Any]]:
    """Every version of the target's flow, newest first (documents left out)."""
    await target_of(db, scope, target_id)
    rows = await db.fetchall(
        "SELECT * FROM call_flows WHERE target_id = :t ORDER BY version DESC", {"t": target_id}
    )
    return [_out(r, with_document=False) for r in rows]


_IN_FORCE_SQL = (
    "SELECT f.target_id, f.version, f.document, t.site_id, t.number, s.timezone,"
    " s.advertiser_id"
    " FROM call_flows f JOIN targets t ON t.id = f.target_id JOIN sites s ON s.id = t.site_id"
    " WHERE f.version = (SELECT MAX(g.version) FROM call_flows g WHERE g.target_id = f.target_id)"
)


async def load_in_force(db: Store) -> dict[tuple[int, str], LoadedFlow]:
    """(site id, target number) -> the flow in force, for the routing table."""
    out: dict[tuple[int, str], LoadedFlow] = {}
    for row in await db.fetchall(_IN_FORCE_SQL):
        if not row["document"]:
            continue  # removed: plain forwarding
        flow, error = None, ""
        try:
            flow = flowdoc.parse(orjson.loads(row["document"]))
        except (flowdoc.FlowError, orjson.JSONDecodeError) as exc:
            error = f"stored flow version {row['version']} does not load: {exc}"[:300]
        key = (int(row["site_id"]), str(row["number"]))
        out[key] = LoadedFlow(
            int(row["target_id"]),
            int(row["advertiser_id"]),
            int(row["site_id"]),
            str(row["number"]),
            int(row["version"]),
            str(row["timezone"] or "Asia/Tokyo"),
            flow,
            error,
        )
    return out


async def next_turn(db: Store, target_id: int, step: str) -> int:
    """The round-robin counter of (target, step) moved on by one, atomically (its new
    value, 1 for the first call): every instance sharing the store takes turns from it."""

    def bump(tx: Any) -> Any:
        return tx.fetchval(
            "INSERT INTO flow_counters (target_id, step, n) VALUES (:t, :s, 1)"
            " ON CONFLICT (target_id, step) DO UPDATE SET n = flow_counters.n + 1 RETURNING n",
            {"t": target_id, "s": step},
        )

    return int(await db.transact(bump))
