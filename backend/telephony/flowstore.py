"""Storing call flows: every version of a target's flows kept, the newest in force.

A target (business number) has its own flow and, optionally, flows for one of its
advertiser's tracking numbers or for one source (a tracking number's source label, such
as チラシ): a :class:`FlowScope`. A call takes the most specific one in force (tracking
number > source > target, :meth:`backend.telephony.routing.RoutingTable.flow`).

Saving checks the document first (:func:`flowdoc.parse`): a flow that does not parse is
never stored. Versions count per target across its flows. A rollback stores the chosen
version's document again as a new version of the same flow, so the history only grows and
says who went back to what. Removing a flow stores an empty document: calls are forwarded
plainly again (or take the less specific flow).
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
MAX_SOURCE = 60


@dataclass(frozen=True)
class FlowScope:
    """Which of a target's flows: its own (both empty), a tracking number's or a source's."""

    number_id: int | None = None
    number: str = ""  # the tracking number (E.164) of ``number_id``
    source: str = ""

    @property
    def key(self) -> str:
        """``""``, ``"n:<number id>"`` or ``"s:<source>"`` (the routing table's key)."""
        if self.number_id is not None:
            return f"n:{self.number_id}"
        return f"s:{self.source}" if self.source else ""

    def out(self) -> dict[str, str]:
        """As the API shows it."""
        return {"number": self.number, "source": self.source}


TARGET_FLOW = FlowScope()


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
    scope: str = ""  # FlowScope.key: "" the target's own flow


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


async def resolve_scope(
    db: Store | Tx, target: dict[str, Any], number: str = "", source: str = ""
) -> FlowScope:
    """The flow ``number`` (one of the target's advertiser's tracking numbers) or
    ``source`` (a source label) name; FlowError when they name none, or both."""
    number, source = (number or "").strip(), (source or "").strip()
    if number and source:
        raise flowdoc.FlowError("scope", "a flow is for a tracking number or a source, not both")
    if source:
        if len(source) > MAX_SOURCE or any(ord(c) < 32 for c in source):
            raise flowdoc.FlowError("source", f"must be a label of at most {MAX_SOURCE} characters")
        return FlowScope(source=source)
    if not number:
        return TARGET_FLOW
    e164 = flowdoc.e164(number, "number")
    row = await db.fetchone(
        "SELECT id, number FROM tracking_numbers WHERE number = :n AND advertiser_id = :a",
        {"n": e164, "a": target["advertiser_id"]},
    )
    if row is None:
        raise flowdoc.FlowError("number", "is not a tracking number of this advertiser")
    return FlowScope(int(row["id"]), str(row["number"]))


def _scope_sql(scope: FlowScope, alias: str = "") -> tuple[str, dict[str, Any]]:
    a = f"{alias}." if alias else ""
    number = f"{a}number_id = :scope_n" if scope.number_id is not None else f"{a}number_id IS NULL"
    return f" AND {number} AND {a}source = :scope_s", {
        "scope_n": scope.number_id,
        "scope_s": scope.source,
    }


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
    tx: Tx,
    target: dict[str, Any],
    scope: FlowScope,
    document: str,
    author: str,
    note: str,
    rolled_back: int | None,
) -> int:
    latest = await tx.fetchval(
        "SELECT MAX(version) FROM call_flows WHERE target_id = :t", {"t": target["id"]}
    )
    version = int(latest or 0) + 1
    await tx.execute(
        "INSERT INTO call_flows (advertiser_id, target_id, version, document, author, note,"
        " rolled_back_from, created_ms, number_id, source)"
        " VALUES (:a, :t, :v, :d, :by, :note, :rb, :now, :n, :s)",
        {
            "n": scope.number_id,
            "s": scope.source,
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
    db: Store,
    scope: Scope,
    target_id: int,
    raw: Any,
    *,
    author: str,
    note: str = "",
    number: str = "",
    source: str = "",
) -> int:
    """Check and store ``raw`` as the new version of the target's flow (of its tracking
    ``number`` or its ``source`` when named; None removes it); its version."""
    document, flow = ("", None) if raw is None else _document(raw)
    async with db.write() as tx:
        target = await target_of(tx, scope, target_id)
        flow_scope = await resolve_scope(tx, target, number, source)
        await _check_audio(tx, flow, int(target["advertiser_id"]))
        return await _append(tx, target, flow_scope, document, author, note, None)


async def rollback(db: Store, scope: Scope, target_id: int, version: int, *, author: str) -> int:
    """Put version ``version`` back in force (as a new version); the new version."""
    async with db.write() as tx:
        target = await target_of(tx, scope, target_id)
        old = await tx.fetchone(
            "SELECT f.document, f.number_id, f.source, n.number FROM call_flows f"
            " LEFT JOIN tracking_numbers n ON n.id = f.number_id"
            " WHERE f.target_id = :t AND f.version = :v",
            {"t": target_id, "v": version},
        )
        if old is None:
            raise LookupError(f"target {target_id} has no flow version {version}")
        flow_scope = FlowScope(old["number_id"], old["number"] or "", old["source"])
        return await _append(
            tx, target, flow_scope, str(old["document"]), author, f"rollback to {version}", version
        )


_SELECT = (
    "SELECT f.*, n.number AS scope_number FROM call_flows f"
    " LEFT JOIN tracking_numbers n ON n.id = f.number_id WHERE f.target_id = :t"
)


def _out(row: dict[str, Any], with_document: bool = True) -> dict[str, Any]:
    out = {
        "target_id": row["target_id"],
        "number": row["scope_number"] or "",
        "source": row["source"],
        "version": row["version"],
        "author": row["author"],
        "note": row["note"],
        "rolled_back_from": row["rolled_back_from"],
        "created_ms": row["created_ms"],
    }
    if with_document:
        out["flow"] = orjson.loads(row["document"]) if row["document"] else None
    return out


async def current(
    db: Store, scope: Scope, target_id: int, *, number: str = "", source: str = ""
) -> dict[str, Any] | None:
    """The flow in force with its version (None: it never had one): the target's own, or
    its tracking ``number``'s or ``source``'s when named."""
    target = await target_of(db, scope, target_id)
    where, params = _scope_sql(await resolve_scope(db, target, number, source), "f")
    row = await db.fetchone(
        _SELECT + where + " ORDER BY f.version DESC LIMIT 1", {"t": target_id, **params}
    )
    return None if row is None else _out(row)


async def scoped(db: Store, scope: Scope, target_id: int) -> list[dict[str, Any]]:
    """The target's flows for tracking numbers and sources in force (removed ones left
    out), numbers first; documents left out."""
    await target_of(db, scope, target_id)
    rows = await db.fetchall(
        _SELECT + " AND (f.number_id IS NOT NULL OR f.source <> '') AND f.document <> ''"
        " AND f.version = (SELECT MAX(g.version) FROM call_flows g"
        " WHERE g.target_id = f.target_id AND COALESCE(g.number_id, 0) = COALESCE(f.number_id, 0)"
        " AND g.source = f.source) ORDER BY f.number_id IS NULL, n.number, f.source",
        {"t": target_id},
    )
    return [{**_out(r, with_document=False), "number_id": r["number_id"]} for r in rows]


async def version(db: Store, scope: Scope, target_id: int, number: int) -> dict[str, Any]:
    """One stored version of the target's flow (LookupError: no such version)."""
    await target_of(db, scope, target_id)
    row = await db.fetchone(_SELECT + " AND f.version = :v", {"t": target_id, "v": number})
    if row is None:
        raise LookupError(f"target {target_id} has no flow version {number}")
    return _out(row)


async def history(
    db: Store,
    scope: Scope,
    target_id: int,
    *,
    number: str = "",
    source: str = "",
    every: bool = False,
) -> list[dict[str, Any]]:
    """Every version of the target's flow (of its ``number``'s or ``source``'s; of all its
    flows with ``every``), newest first (documents left out)."""
    target = await target_of(db, scope, target_id)
    where, params = "", {}
    if not every:
        where, params = _scope_sql(await resolve_scope(db, target, number, source), "f")
    rows = await db.fetchall(
        _SELECT + where + " ORDER BY f.version DESC", {"t": target_id, **params}
    )
    return [_out(r, with_document=False) for r in rows]


_IN_FORCE_SQL = (
    "SELECT f.target_id, f.version, f.document, f.number_id, f.source, t.site_id, t.number,"
    " s.timezone, s.advertiser_id"
    " FROM call_flows f JOIN targets t ON t.id = f.target_id JOIN sites s ON s.id = t.site_id"
    " WHERE f.version = (SELECT MAX(g.version) FROM call_flows g WHERE g.target_id = f.target_id"
    " AND COALESCE(g.number_id, 0) = COALESCE(f.number_id, 0) AND g.source = f.source)"
)


async def load_in_force(db: Store) -> dict[tuple[int, str, str], LoadedFlow]:
    """(site id, target number, scope key) -> the flow in force, for the routing table."""
    out: dict[tuple[int, str, str], LoadedFlow] = {}
    for row in await db.fetchall(_IN_FORCE_SQL):
        if not row["document"]:
            continue  # removed: plain forwarding
        flow, error = None, ""
        try:
            flow = flowdoc.parse(orjson.loads(row["document"]))
        except (flowdoc.FlowError, orjson.JSONDecodeError) as exc:
            error = f"stored flow version {row['version']} does not load: {exc}"[:300]
        number_id = row["number_id"]
        flow_scope = FlowScope(None if number_id is None else int(number_id), "", row["source"])
        key = (int(row["site_id"]), str(row["number"]), flow_scope.key)
        out[key] = LoadedFlow(
            int(row["target_id"]),
            int(row["advertiser_id"]),
            int(row["site_id"]),
            str(row["number"]),
            int(row["version"]),
            str(row["timezone"] or "Asia/Tokyo"),
            flow,
            error,
            flow_scope.key,
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
