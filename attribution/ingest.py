"""Ingest of one visit (``POST /v1/session``) as one named list of small steps.

Each step gets the :class:`Visit` and either passes it on (returns None) or drops it with a
named reason (returns the reason). Drops are counted per site, UTC day and reason in
``ingest_counters``, and a dropped visit still gets a normal-looking answer: a token, no
swaps, no lease, so a bot learns nothing from the response.

:data:`DEFAULT_STEPS` is the whole pipeline production runs, in order; each entry says what
the step does and which reason it drops with (None: it never drops)::

    origin        drops origin_not_allowed  the Origin / page host is not one of sites.domains
    bot           drops bot                 not a person at a browser (attribution.bots)
    spam_referrer drops spam_referrer       referrer on the referrer-spam list
    rate_limit    drops rate_limited        the address is over its rate (IngestConfig.limiter)
    classify      never                     source of the visit (click ids, UTM, keyword, referrer)
    enrich        never                     device / browser / OS, country / city, salted IP hash
    lease_cap     drops lease_cap           the address holds its cap of numbers (flood guard)
    record        never                     session (first and last touch) and page view
    lease         never                     per target on the page: a static number or a lease

The flood guard (:mod:`attribution.guard`) is not a set of extra steps: ``guard.install``
gives the pipeline its limiter, its lease cap (:attr:`Pipeline.guard`, read by
``lease_cap``) and its turns. A pipeline without a guard passes ``rate_limit`` and
``lease_cap`` through. :attr:`Pipeline.on_step` times each step (``/metrics``:
``callpath_ingest_step_seconds``). :meth:`Pipeline.insert_before` remains for tests and
experiments. The visitor's IP travels on the visit for in-memory use only; it is never
stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from attribution import codes, referrers
from attribution.bots import bot_reason
from attribution.coalesce import counter_for
from attribution.devices import Device, parse_user_agent
from attribution.ga_session import ga_session_ids
from attribution.geo import UNKNOWN, Geo, geo_lookup
from attribution.netaddr import ip_key
from attribution.origins import allowed_hosts, hosts_allowed
from attribution.privacy import DAY_MS, ip_hash
from attribution.sessions import PageView, known_session, record_visit
from attribution.sources import Source, classify, host_of, is_new_touch
from attribution.swaps import on_page, swap
from attribution.tokens import SESSION_TOKEN, Signer
from pool import leases, rules
from pool.numbers import Formats, formats
from pool.store import Store, Tx, retry_lost_race

# How long the snippet may keep showing a static source number before asking again.
STATIC_TTL_MS = 30 * 60_000
# How long a site's settings, targets and rules may be reused (see `Pipeline._site`).
SITE_MAX_AGE_S = 1.0
SITE_CACHE_SIZE = 10_000

DROP_REASONS = (
    "origin_not_allowed",
    "bot",
    "spam_referrer",
    "rate_limited",
    "lease_cap",
    "unknown_site",
)
# Counted in ``ingest_counters`` like a drop, but the visit is kept: only the bad part of
# it is not stored. ``click_id_invalid``: a click id of a shape no platform issues (one
# count per click id; see ``attribution.sources.valid_click_id``).
CLICK_ID_INVALID = "click_id_invalid"
KEPT_REASONS = (CLICK_ID_INVALID,)


class UnknownSite(LookupError):
    """No site has the key the snippet sent."""


@dataclass(frozen=True)
class Target:
    """A business number of a site, and the pool that tracks it (None: no pool)."""

    id: int
    number: str
    pool_id: int | None


@dataclass
class Site:
    """The facts of a site the pipeline needs: settings, targets and source rules."""

    id: int
    advertiser_id: int
    domains: list[str]
    params: dict[str, list[str]]
    untracked_policy: str = "pool"
    targets: list[Target] = field(default_factory=list)
    rules: list[rules.SourceRule] = field(default_factory=list)
    # Visit codes (任意番号) on: pool numbers are answered with the visit's code.
    visit_codes: bool = False
    # One number per visitor (a session pool standing in for every target) instead of one
    # per target on the page; its numbers come from the default target's pool.
    number_per_visitor: bool = False
    default_target_id: int | None = None
    # The domains as hosts compare (see `origin_allowed`), worked out once per site.
    allowed_hosts: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.allowed_hosts = allowed_hosts(self.domains)

    def stand_in(self) -> Target | None:
        """With one number per visitor: the target whose pool leases the visitor's number
        (the default target, else the first target with a pool)."""
        pooled = [t for t in self.targets if t.pool_id is not None]
        chosen = [t for t in pooled if t.id == self.default_target_id] or pooled
        return chosen[0] if chosen else None


@dataclass
class Visit:
    """One request of the snippet, filled in step by step."""

    site_key: str
    url: str
    now_ms: int
    referrer: str = ""
    title: str = ""
    token: str = ""
    ga: str = ""
    gs: str = ""  # gtag session ids, ``CONTAINER.SESSION`` pairs (attribution.ga_session)
    # Digit runs of the phone-shaped text on the page (None: an older snippet or an API
    # client that does not say, so every target gets a number).
    found: list[str] | None = None
    user_agent: str = ""
    origin: str = ""
    accept_language: str = ""
    ip: str = ""  # in memory only: hashed by `enrich`, never written
    site: Site | None = None
    session_id: int | None = None
    source: Source | None = None
    new_touch: bool = True
    device: Device | None = None
    geo: Geo = UNKNOWN
    ip_hash: str = ""
    swaps: list[dict[str, object]] = field(default_factory=list)
    ttl_ms: int = 0


@dataclass(frozen=True)
class Outcome:
    """The answer to the snippet, and what happened."""

    token: str
    swaps: list[dict[str, object]]
    ttl_ms: int
    session_id: int | None
    dropped: str | None = None


@dataclass(frozen=True)
class IngestConfig:
    """Plain settings the pipeline needs (the backend fills them from its settings)."""

    secret_key: str
    geoip_city_db: str = ""
    limiter: Callable[[Visit], bool] | None = None
    # Visit codes: not issued again within the late-call window, alive for code_life_ms.
    code_window_ms: int = 2 * 3_600_000
    code_life_ms: int = 30 * 86_400_000


Step = Callable[["Pipeline", Visit, Tx], Awaitable[str | None]]


class LeaseCap(Protocol):
    """What ``lease_cap`` asks of the flood guard (:class:`attribution.guard.FloodGuard`)."""

    async def lease_cap(self, secret_key: str, visit: Visit, tx: Tx) -> str | None:
        """``"lease_cap"`` when the visit's address holds as many numbers as it may."""
        ...


async def step_origin(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """Drop visits from pages outside the site's domains (no domains: any page)."""
    assert visit.site is not None
    allowed = hosts_allowed(visit.site.allowed_hosts, visit.origin, visit.url)
    return None if allowed else "origin_not_allowed"


async def step_bot(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """Drop what is not a person at a browser: crawlers, headless and automated browsers,
    monitors, previewers, HTTP libraries, no or a too-short User-Agent, no Accept-Language
    (:func:`attribution.bots.bot_reason`, the one bot policy)."""
    if bot_reason(visit.user_agent, visit.accept_language) is not None:
        return "bot"
    visit.device = parse_user_agent(visit.user_agent)
    return None


async def step_spam_referrer(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """Drop visits whose referrer is a known referrer-spam domain."""
    host = host_of(visit.referrer)
    return "spam_referrer" if host and referrers.is_spam(host) else None


async def step_rate_limit(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """The flood-control hook: ``IngestConfig.limiter`` says whether the visit may pass."""
    limiter = p.config.limiter
    return None if limiter is None or limiter(visit) else "rate_limited"


async def step_lease_cap(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """The flood guard's cap: drop a visit from an address that already holds as many of
    the site's numbers as it may (before anything of the visit is stored)."""
    return None if p.guard is None else await p.guard.lease_cap(p.config.secret_key, visit, tx)


async def step_classify(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """Classify the source and decide whether it starts a new touch."""
    assert visit.site is not None
    visit.source = classify(
        visit.url, visit.referrer, site_hosts=visit.site.domains, params=visit.site.params
    )
    visit.new_touch = is_new_touch(visit.source, visit.site.domains)
    return None


async def step_enrich(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """Device from the User-Agent, place from the IP, and the day's salted IP hash."""
    assert visit.site is not None
    if visit.device is None:
        visit.device = parse_user_agent(visit.user_agent)
    if p.config.geoip_city_db:
        visit.geo = geo_lookup(p.config.geoip_city_db).lookup(visit.ip)
    # Hashed by its counting key (IPv6: the /64), which the flood guard's cap counts by.
    visit.ip_hash = ip_hash(
        p.config.secret_key, ip_key(visit.ip), site_id=visit.site.id, now_ms=visit.now_ms
    )
    return None


async def step_record(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """Create or continue the session and add the page view."""
    assert visit.site is not None and visit.source is not None and visit.device is not None
    existing = visit.session_id
    visit.session_id = await record_visit(
        tx,
        site_id=visit.site.id,
        session_id=existing,
        source=visit.source,
        new_touch=visit.new_touch or existing is None,
        page=PageView(visit.url, visit.title, visit.referrer),
        now_ms=visit.now_ms,
        device=visit.device,
        user_agent=visit.user_agent,
        geo=visit.geo,
        ip_hash=visit.ip_hash,
        ga_client_id=visit.ga,
        dialect=p.db.dialect,
        ga_sessions=ga_session_ids(visit.gs),
    )
    return None


async def step_lease(p: Pipeline, visit: Visit, tx: Tx) -> str | None:
    """For each target of the site on the page, the number the source rules choose
    (pool/rules.py).

    Lease on demand: when the snippet says which digit runs the page shows
    (``visit.found``), only the targets among them get a number, and the targets whose
    pool this session has held a lease of keep theirs or get a new one (a later page of
    the visit that does not show them still answers them, so the tab's copy stays whole,
    and a visit whose leases ended gets numbers for what it was shown).
    Landing-page parameter rules win over referrer rules, which win over rules on the
    classified source; without a rule the session pool leases a number (the session's live
    lease first). A static source number is shown as is, without a lease.

    One number per visitor (``site.number_per_visitor``): the same targets get the same
    number, one lease of the stand-in target's pool (:meth:`Site.stand_in`), and the
    target of the page's last run is remembered as where the visitor's calls go.
    """
    assert visit.site is not None and visit.session_id is not None
    assert visit.source is not None
    site = visit.site
    src = visit.source
    seen = rules.Visit.from_url(
        visit.url,
        visit.referrer,
        channel=src.channel,
        source=src.source,
        medium=src.medium,
        campaign=src.campaign,
    )
    targets = site.targets
    if visit.found is not None:
        held = {
            row["pool_id"]
            for row in await tx.fetchall(
                "SELECT DISTINCT pool_id FROM leases WHERE session_id = :s",
                {"s": visit.session_id},
            )
        }
        targets = [t for t in targets if t.pool_id in held or on_page(t.number, visit.found)]
        if site.number_per_visitor:
            await _note_last_target(tx, visit.session_id, last_shown(site.targets, visit.found))
    code = ""  # the visit's code, issued with its first pool number (codes on)
    session_id = visit.session_id

    async def add(targets_shown: list[Target], got: tuple[Formats, int | None]) -> None:
        nonlocal code
        f, number_id = got
        if site.visit_codes and number_id is not None:
            code = code or await codes.code_for_session(
                tx,
                site_id=site.id,
                session_id=session_id,
                now_ms=visit.now_ms,
                window_ms=p.config.code_window_ms,
                life_ms=p.config.code_life_ms,
                number_id=number_id,
            )
        for target in targets_shown:
            visit.swaps.append(swap(target.number, f.e164, f.national, f.international, code))

    if site.number_per_visitor:
        # One number for every target on the page, leased from the stand-in's pool; a
        # call to it goes to the target the visitor saw last (telephony/routing.py).
        stand_in = site.stand_in()
        got = await _number_for(p, visit, tx, seen, stand_in) if stand_in and targets else None
        if got is not None:
            await add(targets, got)
        return None
    for target in targets:
        got = await _number_for(p, visit, tx, seen, target)
        if got is not None:
            await add([target], got)
    return None


async def _number_for(
    p: Pipeline, visit: Visit, tx: Tx, seen: rules.Visit, target: Target
) -> tuple[Formats, int | None] | None:
    """The number the source rules choose for ``target`` (a static number, or a lease of
    its pool with the leased number's id), moving the answer's ttl on; None when the page
    keeps the target's own."""
    assert visit.site is not None and visit.session_id is not None
    choice = rules.choose_number_source(
        seen,
        visit.site.rules,
        target_id=target.id,
        pool_id=target.pool_id,
        untracked_policy=visit.site.untracked_policy,
    )
    if choice.action == "number":
        visit.ttl_ms = max(visit.ttl_ms, STATIC_TTL_MS)
        return formats(choice.number), None
    if choice.action != "pool" or choice.pool_id is None:
        return None
    lease = await leases.claim(
        tx,
        dialect=p.db.dialect,
        pool_id=choice.pool_id,
        session_id=visit.session_id,
        now_ms=visit.now_ms,
    )
    if lease is None:
        return None
    visit.ttl_ms = max(visit.ttl_ms, lease.expires_ms - visit.now_ms)
    if lease.national:
        return Formats(lease.number, lease.national, lease.international), lease.number_id
    return formats(lease.number), lease.number_id


def last_shown(targets: list[Target], found: list[str]) -> Target | None:
    """The target of the last digit run (in page order) that holds one, if any."""
    for run in reversed(found):
        for target in targets:
            if on_page(target.number, [run]):
                return target
    return None


async def _note_last_target(tx: Tx, session_id: int, target: Target | None) -> None:
    """Remember the target the visitor's page showed last (where its calls will go)."""
    if target is not None:
        await tx.execute(
            "UPDATE sessions SET last_target_id = :t WHERE id = :s",
            {"t": target.id, "s": session_id},
        )


async def note_seen_targets(tx: Tx, session_id: int, seen: list[str]) -> None:
    """A page-view heartbeat's ``seen`` targets (E.164, in page order): on a site with one
    number per visitor, the last of them that is one of the site's targets is where the
    visitor's calls now go. Other sites ignore them."""
    if not seen:
        return
    rows = await tx.fetchall(
        "SELECT t.id, t.number FROM sessions s JOIN sites st ON st.id = s.site_id"
        " JOIN targets t ON t.site_id = s.site_id"
        " WHERE s.id = :s AND st.number_per_visitor = 1",
        {"s": session_id},
    )
    ids = {str(r["number"]): int(r["id"]) for r in rows}
    for number in reversed(seen):
        if number in ids:
            await _note_last_target(tx, session_id, Target(ids[number], number, None))
            return


@dataclass(frozen=True)
class StepSpec:
    """One step of the pipeline: its name, what it does, and the reason it drops with
    (None: it never drops a visit)."""

    name: str
    run: Step
    drops: str | None
    does: str


DEFAULT_STEPS: tuple[StepSpec, ...] = (
    StepSpec("origin", step_origin, "origin_not_allowed", "page outside the site's domains"),
    StepSpec("bot", step_bot, "bot", "not a person at a browser (attribution.bots)"),
    StepSpec("spam_referrer", step_spam_referrer, "spam_referrer", "referrer-spam domain"),
    StepSpec("rate_limit", step_rate_limit, "rate_limited", "address over its request rate"),
    StepSpec("classify", step_classify, None, "source: click ids, UTM, keyword, referrer"),
    StepSpec("enrich", step_enrich, None, "device, place, salted IP hash"),
    StepSpec("lease_cap", step_lease_cap, "lease_cap", "address holds its cap of numbers"),
    StepSpec("record", step_record, None, "session, touch and page view"),
    StepSpec("lease", step_lease, None, "a number for each target on the page"),
)


class Pipeline:
    """The ingest steps over one database, run in order for each visit.

    A visit is one unit of work (``db.transact``): the site, the visitor's session, the
    page view and the leases are read and written together, so what a step decides on is
    what the next step writes to (no stale read between two units). Steps get the unit's
    ``tx``; on SQLite they run on the store's writer thread (so a step must not touch the
    app's event loop objects: locks, futures, tasks).
    """

    def __init__(
        self, db: Store, config: IngestConfig, steps: list[tuple[str, Step]] | None = None
    ) -> None:
        self.db = db
        self.config = config
        self.signer = Signer(config.secret_key, SESSION_TOKEN)
        default = [(spec.name, spec.run) for spec in DEFAULT_STEPS]
        self.steps: list[tuple[str, Step]] = default if steps is None else list(steps)
        # The flood guard's lease cap (attribution.guard.install sets it); None: no cap.
        self.guard: LeaseCap | None = None
        # Told each step's name and seconds after it ran (the backend's metrics); None: no
        # clock is read.
        self.on_step: Callable[[str, float], None] | None = None
        # Held around a visit's unit of work; the flood guard makes visits from one address
        # take turns through it (attribution/guard.py). None: no turns.
        self.serialize: Callable[[Visit], AbstractAsyncContextManager[None]] | None = None
        # Sites by key with the store generation and time they were read at (see `_site`).
        self._sites: dict[str, tuple[int, float, Site]] = {}

    def insert_before(self, before: str, name: str, step: Step) -> None:
        """Add ``step`` under ``name`` just before the step named ``before``."""
        names = [n for n, _ in self.steps]
        self.steps.insert(names.index(before), (name, step))

    async def run(self, visit: Visit) -> Outcome:
        """Run every step; raise :class:`UnknownSite` when the site key is unknown."""
        turn = self.serialize(visit) if self.serialize else contextlib.nullcontext()
        async with turn:
            outcome = await self._unit(visit)
        if outcome is None:
            await count_drop(self.db, site_id=0, reason="unknown_site", now_ms=visit.now_ms)
            raise UnknownSite(visit.site_key)
        if outcome.dropped is not None:
            assert visit.site is not None
            await count_drop(
                self.db, site_id=visit.site.id, reason=outcome.dropped, now_ms=visit.now_ms
            )
        elif visit.source is not None and visit.source.invalid_click_ids:
            assert visit.site is not None
            await count_drop(
                self.db,
                site_id=visit.site.id,
                reason=CLICK_ID_INVALID,
                now_ms=visit.now_ms,
                n=len(visit.source.invalid_click_ids),
            )
        return outcome

    @retry_lost_race
    async def _unit(self, visit: Visit) -> Outcome | None:
        """The visit's unit of work; None when no site has its key. Run again from the
        start when it lost a race on PostgreSQL, so what an attempt set is reset first."""
        visit.session_id, visit.swaps, visit.ttl_ms = None, [], 0

        async def unit(tx: Tx) -> Outcome | None:
            visit.site = await self._site(tx, visit.site_key)
            if visit.site is None:
                return None
            if visit.token:
                # The session the visitor's token names, when it is one of this site's.
                visit.session_id = await known_session(
                    tx, self.signer.read(visit.token), visit.site.id
                )
            timed = self.on_step
            for name, step in self.steps:
                if timed is None:
                    reason = await step(self, visit, tx)
                else:
                    started = time.perf_counter()
                    reason = await step(self, visit, tx)
                    timed(name, time.perf_counter() - started)
                if reason is not None:
                    # The token the visitor brought is handed back untouched: a drop never
                    # ends or changes a real session.
                    return Outcome(visit.token or self.signer.sign(0), [], 0, None, reason)
            assert visit.session_id is not None
            return Outcome(
                self.signer.sign(visit.session_id), visit.swaps, visit.ttl_ms, visit.session_id
            )

        return await self.db.transact(unit)

    async def _site(self, tx: Tx, site_key: str) -> Site | None:
        """The site with its targets and rules, read at most once a second per site.

        Reused while the store's ``generation`` is the one it was read under (any change
        to settings through this process, or on SQLite by another process, moves it on)
        and for at most ``SITE_MAX_AGE_S``: a change made by another app instance sharing
        PostgreSQL is seen within that. Unknown keys are never kept, so random keys cannot
        grow it; past ``SITE_CACHE_SIZE`` sites it starts over.
        """
        generation = self.db.generation
        now = time.monotonic()
        hit = self._sites.get(site_key)
        if hit is not None and hit[0] == generation and now - hit[1] < SITE_MAX_AGE_S:
            return hit[2]
        site = await load_site(tx, site_key)
        if site is None:
            self._sites.pop(site_key, None)
            return None
        if len(self._sites) >= SITE_CACHE_SIZE:
            self._sites.clear()
        self._sites[site_key] = (generation, now, site)
        return site


async def load_site(db: Store | Tx, site_key: str) -> Site | None:
    """The site with this snippet key: domains, parameter names, targets and rules."""
    row = await db.fetchone(
        "SELECT s.id, s.advertiser_id, s.domains, s.untracked_policy, s.visit_codes,"
        " s.number_per_visitor, s.default_target_id, a.params FROM sites s"
        " LEFT JOIN site_attribution a ON a.site_id = s.id WHERE s.site_key = :k",
        {"k": site_key},
    )
    if row is None:
        return None
    domains = _json(row["domains"], [])
    params = _json(row["params"], {})
    site_id = int(row["id"])
    targets = [
        Target(int(t["id"]), str(t["number"]), t["pool_id"])
        for t in await db.fetchall(
            "SELECT t.id, t.number, p.id AS pool_id FROM targets t"
            " LEFT JOIN pools p ON p.target_id = t.id WHERE t.site_id = :s ORDER BY t.id",
            {"s": site_id},
        )
    ]
    return Site(
        id=site_id,
        advertiser_id=int(row["advertiser_id"]),
        domains=[str(d) for d in domains] if isinstance(domains, list) else [],
        params=params if isinstance(params, dict) else {},
        untracked_policy=str(row["untracked_policy"] or "pool"),
        targets=targets,
        number_per_visitor=bool(row["number_per_visitor"]),
        default_target_id=row["default_target_id"],
        rules=await rules.load_rules(db, site_id=site_id) if targets else [],
        visit_codes=bool(row["visit_codes"]),
    )


def _json(raw: Any, default: Any) -> Any:
    if not raw:
        return default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return default


async def count_drop(db: Store, *, site_id: int, reason: str, now_ms: int, n: int = 1) -> None:
    """Count ``n`` dropped visits (or kept visits' dropped parts, :data:`KEPT_REASONS`)
    for the site, UTC day and reason.

    Coalesced (attribution/coalesce.py): drops that arrive while a count is being written
    are summed into the next write, so a flood does not queue one write per request.
    """

    async def write(batch: dict[Any, int]) -> None:
        async def unit(tx: Tx) -> None:
            for (site, day, why), n in batch.items():
                await tx.execute(
                    "INSERT INTO ingest_counters (site_id, day_ms, reason, count)"
                    " VALUES (:s, :d, :r, :n) ON CONFLICT (site_id, day_ms, reason)"
                    " DO UPDATE SET count = ingest_counters.count + :n",
                    {"s": site, "d": day, "r": why, "n": n},
                )

        await db.transact(unit)

    await counter_for(db, write).add((site_id, now_ms - now_ms % DAY_MS, reason), n)


async def drop_counts(db: Store, *, site_id: int | None = None) -> dict[str, int]:
    """Dropped visits by reason, over all days (one site, or every site); with them the
    counts of :data:`KEPT_REASONS` (visits kept, a part of them not stored)."""
    where = "" if site_id is None else " WHERE site_id = :s"
    rows = await db.fetchall(
        f"SELECT reason, SUM(count) AS n FROM ingest_counters{where} GROUP BY reason",
        {} if site_id is None else {"s": site_id},
    )
    return {str(r["reason"]): int(r["n"]) for r in rows}


async def site_params(db: Store, *, site_id: int) -> dict[str, list[str]]:
    """A site's own tracking-parameter names, as :func:`set_site_params` stored them."""
    raw = await db.fetchval(
        "SELECT params FROM site_attribution WHERE site_id = :s", {"s": site_id}
    )
    value = _json(raw, {})
    return value if isinstance(value, dict) else {}


async def set_site_params(
    db: Store, *, site_id: int, params: dict[str, list[str]], now_ms: int
) -> None:
    """Set a site's own tracking-parameter names (field -> names, see sources.py)."""
    await db.execute(
        "INSERT INTO site_attribution (site_id, params, updated_ms) VALUES (:s, :p, :t)"
        " ON CONFLICT (site_id) DO UPDATE SET params = :p, updated_ms = :t",
        {"s": site_id, "p": orjson.dumps(params).decode(), "t": now_ms},
    )
