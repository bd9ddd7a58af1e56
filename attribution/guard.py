"""The flood guard: a visit from one address may not drain a pool of numbers.

Two limits, both keyed by the visitor's address (:func:`attribution.netaddr.ip_key`: the
IPv4 address or the IPv6 /64):

- a **rate limit**: a token bucket per address in this process's memory
  (:class:`attribution.ratelimit.TokenBuckets`), checked before the visit is classified
  or recorded, so a limited request costs the site look-up, a dictionary look-up and a
  share of one coalesced drop-counter write (:mod:`attribution.coalesce`);
- a **live-lease cap**: how many sessions from the address may hold a tracking number of
  the site at once, counted in the database through ``sessions.ip_hash`` (the salted hash
  of the same key), so it holds across every instance sharing the database.

A visit over either limit is dropped by the ingest pipeline with the reason
``rate_limited`` or ``lease_cap`` and answered like any untracked visit (no swaps, no
lease): nothing tells the sender it was limited.

Inside one instance the cap is exact: :meth:`FloodGuard.lease_slot` serialises the check
and the lease of requests from one address. Instances sharing PostgreSQL check
concurrently, so for the instant two of them lease together an address can hold up to
(instances - 1) sessions above the cap; the next check of any instance sees them all.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from attribution.ingest import Pipeline, Visit
from attribution.netaddr import ip_key
from attribution.privacy import DAY_MS, ip_hash
from attribution.ratelimit import TokenBuckets
from pool.store import Store, Tx

RATE_LIMITED = "rate_limited"
LEASE_CAP = "lease_cap"


@dataclass(frozen=True)
class GuardLimits:
    """How much one address may ask for (0 turns a limit off)."""

    rate_per_minute: float = 30.0
    burst: int = 20
    live_sessions: int = 4
    max_keys: int = 100_000


class _KeyedTurns:
    """Holders of one key take turns (first come, first served); other keys run freely.

    An uncontended key costs one dictionary entry, made and dropped around the holder: no
    lock object, no context-manager generator (this runs on every visit). Waiters queue a
    future each; a key is forgotten as soon as nobody holds or waits for it.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def hold(self, key: str) -> _Turn:
        """``async with turns.hold(key):`` runs its body when the key's turn comes."""
        return _Turn(self, key)

    def _pass_on(self, key: str) -> None:
        waiters = self._waiting[key]
        while waiters:
            future = waiters.popleft()
            if not future.done():  # skip waiters that were cancelled meanwhile
                future.set_result(None)
                return
        del self._waiting[key]


class _Turn:
    __slots__ = ("_key", "_turns")

    def __init__(self, turns: _KeyedTurns, key: str) -> None:
        self._turns = turns
        self._key = key

    async def __aenter__(self) -> None:
        waiting = self._turns._waiting
        waiters = waiting.get(self._key)
        if waiters is None:
            waiting[self._key] = deque()
            return
        future = asyncio.get_running_loop().create_future()
        waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                # Cancelled after the turn was handed over: hand it on.
                self._turns._pass_on(self._key)
            else:
                future.cancel()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._turns._pass_on(self._key)


async def live_sessions(
    db: Store | Tx,
    *,
    site_id: int,
    ip_hashes: Sequence[str],
    now_ms: int,
    besides: int | None = None,
) -> int:
    """Sessions of ``site_id`` from one address holding a live number of the site.

    ``ip_hashes`` are the address's hashes under every salt a live session may have been
    stored with (today's and yesterday's: the salt turns at midnight UTC, leases do not).
    Overflow leases do not count (the overflow number is shared, never drained); nor does
    the session ``besides`` (a returning visit renewing its own lease adds nothing).
    """
    hashes = [h for h in dict.fromkeys(ip_hashes) if h][:4]
    if not hashes:
        hashes = [""]
    params: dict[str, object] = {f"h{i}": h for i, h in enumerate(hashes)}
    params.update({"site": site_id, "me": -1 if besides is None else besides, "now": now_ms})
    placeholders = ", ".join(f":h{i}" for i in range(len(hashes)))
    count = await db.fetchval(
        "SELECT COUNT(DISTINCT l.session_id) FROM sessions s"
        " JOIN leases l ON l.session_id = s.id"
        f" WHERE s.ip_hash IN ({placeholders}) AND s.site_id = :site AND s.id <> :me"
        "   AND l.ended_ms IS NULL AND l.overflow = 0 AND l.expires_ms > :now",
        params,
    )
    return int(count or 0)


class FloodGuard:
    """Per-address rate limit and live-lease cap; one instance per app process."""

    def __init__(self, limits: GuardLimits | None = None) -> None:
        self.limits = limits or GuardLimits()
        rate = self.limits.rate_per_minute / 60.0
        self._buckets = TokenBuckets(
            rate_per_s=rate, burst=max(1, self.limits.burst), max_keys=self.limits.max_keys
        )
        self._locks = _KeyedTurns()

    @staticmethod
    def key(address: str | None) -> str:
        """The key an address is limited under (IPv4 address or IPv6 /64)."""
        return ip_key(address)

    def admit(self, key: str, now_ms: int) -> str | None:
        """Take one request from the address's bucket; ``"rate_limited"`` when it is empty."""
        if self.limits.rate_per_minute <= 0:
            return None
        return None if self._buckets.take(key, now_ms) else RATE_LIMITED

    def limiter(self, visit: Visit) -> bool:
        """The ingest pipeline's rate-limit hook: whether ``visit`` may go on."""
        return self.admit(ip_key(visit.ip), visit.now_ms) is None

    def lease_slot(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold while checking the cap and leasing, so one address's requests take turns."""
        return self._locks.hold(key)

    async def lease_cap(self, secret_key: str, visit: Visit, tx: Tx) -> str | None:
        """The ingest step ``lease_cap``'s question: ``"lease_cap"`` when the visit's
        address already holds as many of the site's numbers as it may."""
        assert visit.site is not None
        if self.limits.live_sessions <= 0:
            return None
        # Counted in the visit's unit of work, which sees every committed lease (a shared
        # SQLite reader could hand back a snapshot a few milliseconds old).
        site_id = visit.site.id
        return await self.over_cap(
            tx,
            site_id=site_id,
            ip_hashes=hashes_of(secret_key, visit.ip, site_id=site_id, now_ms=visit.now_ms),
            now_ms=visit.now_ms,
            session_id=visit.session_id,
        )

    async def over_cap(
        self,
        db: Store | Tx,
        *,
        site_id: int,
        ip_hashes: Sequence[str],
        now_ms: int,
        session_id: int | None,
    ) -> str | None:
        """``"lease_cap"`` when the address already holds as many numbers as it may."""
        cap = self.limits.live_sessions
        if cap <= 0:
            return None
        held = await live_sessions(
            db, site_id=site_id, ip_hashes=ip_hashes, now_ms=now_ms, besides=session_id
        )
        return LEASE_CAP if held >= cap else None


# --- wiring into the ingest pipeline (attribution.ingest) -------------------------------


def hashes_of(secret_key: str, address: str, *, site_id: int, now_ms: int) -> list[str]:
    """The address's stored hash today and yesterday (the salt turns at midnight UTC)."""
    key = ip_key(address)
    return [
        ip_hash(secret_key, key, site_id=site_id, now_ms=now_ms),
        ip_hash(secret_key, key, site_id=site_id, now_ms=now_ms - DAY_MS),
    ]


def install(pipeline: Pipeline, guard: FloodGuard) -> None:
    """Give an ingest pipeline the guard (``backend/routes/visits.py`` calls this once).

    The guard adds no steps: the pipeline's own list (``attribution.ingest.DEFAULT_STEPS``)
    has them, and this hands them what they ask.

    - ``rate_limit`` asks :meth:`FloodGuard.limiter` (``IngestConfig.limiter``);
    - ``lease_cap`` (before ``record``) asks :meth:`FloodGuard.lease_cap`: an address at its
      cap is dropped before anything is stored;
    - visits from one address take turns (:meth:`FloodGuard.lease_slot` held around each
      visit's unit of work), so the cap is checked against the leases of every earlier
      visit from the address and is exact within the instance.
    """
    pipeline.config = dataclasses.replace(pipeline.config, limiter=guard.limiter)
    pipeline.guard = guard
    if guard.limits.live_sessions > 0:
        # Only the cap needs an address's visits in turn; without it they run side by side.
        pipeline.serialize = lambda visit: guard.lease_slot(ip_key(visit.ip))
