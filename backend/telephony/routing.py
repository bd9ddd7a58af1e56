"""The routing table: where each tracking number forwards, kept in memory.

The voice webhook must answer even when storage is slow or down, so it never asks the
database on the way: the table is loaded at start-up and refreshed in the background.
A number missing from the table (added since the last refresh) is looked up once under a
short budget. Blocked callers (着信拒否) and per-advertiser call options live here too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from backend.telephony import codes, flowstore
from backend.telephony.flowstore import LoadedFlow
from backend.telephony.options import CallOptions
from pool.store import Row, Store

log = logging.getLogger("callpath.telephony")


@dataclass(frozen=True)
class Route:
    """One tracking number and where its calls go."""

    number: str
    number_id: int
    advertiser_id: int
    site_id: int | None
    forward_to: str
    kind: str
    source_label: str = ""
    # Its site gives one number per visitor: a call goes to the target the visitor saw
    # last (looked up at call time, see `RoutingTable.for_call`), else to `forward_to`.
    per_visitor: bool = False


@dataclass
class Snapshot:
    """Everything the table knows at one moment; replaced whole on each refresh."""

    routes: dict[str, Route] = field(default_factory=dict)
    options: dict[int, CallOptions] = field(default_factory=dict)
    blocked_exact: dict[int, set[str]] = field(default_factory=dict)
    blocked_prefix: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # Visit codes: number -> digits its voice answer listens for first (backend.telephony.codes).
    listening: dict[str, int] = field(default_factory=dict)
    # Call flows in force (backend.telephony.flows): (site id, target number, scope) and
    # (target id, scope) -> flow; scope "" (the target's own), "n:<number id>", "s:<source>".
    flows: dict[tuple[int, str, str], LoadedFlow] = field(default_factory=dict)
    flows_by_target: dict[tuple[int, str], LoadedFlow] = field(default_factory=dict)


_NUMBERS_SQL = (
    "SELECT n.id, n.number, n.advertiser_id, COALESCE(n.site_id, p.site_id) AS site_id,"
    " n.forward_to, n.kind, n.source_label, st.number_per_visitor FROM tracking_numbers n"
    " LEFT JOIN pools p ON p.id = n.pool_id"
    " LEFT JOIN sites st ON st.id = COALESCE(n.site_id, p.site_id)"
)
# The target the last holder of a pool number saw last (one number per visitor): its
# live lease, or one that ended within the pool's grace.
_LAST_SEEN_SQL = (
    "SELECT t.number FROM leases l JOIN pools p ON p.id = l.pool_id"
    " JOIN sessions s ON s.id = l.session_id"
    " JOIN targets t ON t.id = s.last_target_id AND t.site_id = s.site_id"
    " WHERE l.number_id = :n AND (l.ended_ms IS NULL OR l.ended_ms >= :now - p.grace_ms)"
    " ORDER BY l.started_ms DESC, l.id DESC LIMIT 1"
)


def _route(row: Row) -> Route:
    return Route(
        row["number"],
        int(row["id"]),
        int(row["advertiser_id"]),
        row["site_id"],
        row["forward_to"],
        row["kind"],
        row["source_label"] or "",
        bool(row["number_per_visitor"]) and row["kind"] == "pool",
    )


class RoutingTable:
    """Number -> route, options and block lists, read without touching storage."""

    def __init__(
        self, db: Callable[[], Store], defaults: CallOptions, *, code_life_ms: int = 30 * 86_400_000
    ) -> None:
        self._db = db
        self.defaults = defaults
        self.code_life_ms = code_life_ms
        self._snap = Snapshot()
        self.loaded = False
        # Round-robin turns taken while storage did not answer (backend.telephony.flows).
        self._turns: dict[tuple[int, str], int] = {}

    async def load(self) -> None:
        """Read everything from storage and swap it in at once."""
        db = self._db()
        snap = Snapshot()
        for row in await db.fetchall(_NUMBERS_SQL):
            snap.routes[row["number"]] = _route(row)
        for row in await db.fetchall("SELECT * FROM call_options"):
            snap.options[int(row["advertiser_id"])] = self.defaults.overridden(row)
        prefixes: dict[int, list[str]] = {}
        for row in await db.fetchall("SELECT advertiser_id, pattern, kind FROM blocked_callers"):
            adv = int(row["advertiser_id"])
            if row["kind"] == "prefix":
                prefixes.setdefault(adv, []).append(row["pattern"])
            else:
                snap.blocked_exact.setdefault(adv, set()).add(row["pattern"])
        snap.blocked_prefix = {adv: tuple(p) for adv, p in prefixes.items()}
        snap.listening = await codes.load_listening(db, life_ms=self.code_life_ms)
        snap.flows = await flowstore.load_in_force(db)
        snap.flows_by_target = {(f.target_id, f.scope): f for f in snap.flows.values()}
        self._snap = snap
        self.loaded = True

    async def refresh_forever(self, every_s: float) -> None:
        """Reload periodically; on failure keep serving the last good table."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.wait_for(self.load(), timeout=max(1.0, every_s))
            except Exception as exc:  # storage down: the old table keeps calls flowing
                log.warning("routing table refresh failed, keeping the last one: %s", exc)

    def get(self, number: str) -> Route | None:
        """The route of a tracking number, from memory only."""
        return self._snap.routes.get(number.strip())

    async def find(self, number: str, *, budget_s: float = 0.5) -> Route | None:
        """The route from memory, else one storage look-up within ``budget_s``."""
        route = self.get(number)
        if route is not None:
            return route
        try:
            row = await asyncio.wait_for(
                self._db().fetchone(_NUMBERS_SQL + " WHERE n.number = :num", {"num": number}),
                timeout=budget_s,
            )
        except Exception as exc:  # includes the timeout: unknown is the honest answer
            log.warning("routing look-up of %s failed: %s", number, exc)
            return None
        if row is None:
            return None
        route = _route(row)
        self._snap.routes[route.number] = route
        return route

    async def for_call(self, number: str, *, budget_s: float = 0.5) -> Route | None:
        """The route a starting call takes (:meth:`find`). A number of a site with one
        number per visitor forwards to the target its visitor saw last, read once within
        ``budget_s``; unknown, slow or failing storage: its own ``forward_to`` (the
        default target), so the call is always put through."""
        route = await self.find(number, budget_s=budget_s)
        if route is None or not route.per_visitor:
            return route
        try:
            last = await asyncio.wait_for(
                self._db().fetchval(
                    _LAST_SEEN_SQL, {"n": route.number_id, "now": int(time.time() * 1000)}
                ),
                timeout=budget_s,
            )
        except Exception as exc:  # includes the timeout: the default target takes it
            log.warning("last-seen target of %s not read: %s", number, exc)
            return route
        return replace(route, forward_to=str(last)) if last else route

    def options(self, advertiser_id: int) -> CallOptions:
        """The advertiser's call options (settings where it has none of its own)."""
        return self._snap.options.get(advertiser_id, self.defaults)

    def flow(
        self, site_id: int, target_number: str, *, number_id: int = 0, source: str = ""
    ) -> LoadedFlow | None:
        """The call flow a call to a site's target takes (None: plain forwarding): the one
        of its tracking number (``number_id``), else of the number's ``source`` label,
        else the target's own."""
        flows = self._snap.flows
        for scope in (f"n:{number_id}" if number_id else "", f"s:{source}" if source else ""):
            if scope and (found := flows.get((site_id, target_number, scope))) is not None:
                return found
        return flows.get((site_id, target_number, ""))

    def flow_of_target(self, target_id: int, scope: str = "") -> LoadedFlow | None:
        """A target's call flow in force (``scope``: which one, see ``Snapshot.flows``;
        None: none, or removed)."""
        return self._snap.flows_by_target.get((target_id, scope))

    def store(self) -> Store:
        """The storage the table reads (for the few budgeted look-ups of a call)."""
        return self._db()

    def local_turn(self, key: tuple[int, str]) -> int:
        """A round-robin turn counted in this process only (storage did not answer)."""
        self._turns[key] = self._turns.get(key, 0) + 1
        return self._turns[key]

    def listening(self, number: str) -> int:
        """How many digits of a visit code the number's answer waits for (0: none)."""
        return self._snap.listening.get(number.strip(), 0)

    def blocked(self, advertiser_id: int, caller: str) -> bool:
        """Whether the advertiser refuses calls from ``caller`` (exact number or prefix)."""
        caller = caller.strip()
        if not caller:
            return False
        if caller in self._snap.blocked_exact.get(advertiser_id, ()):
            return True
        return caller.startswith(self._snap.blocked_prefix.get(advertiser_id, ()))

    def __len__(self) -> int:
        return len(self._snap.routes)
