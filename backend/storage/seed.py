"""A named world of configuration records for the demo, the benchmarks and the tests.

Advertisers (tenants), their users, sites, targets (the business numbers shown on a page),
one pool per target and its tracking numbers: the set-up every visit and call needs before
anything else can happen. It used to be written again in the demo, each benchmark and each
test folder; here it is described as data (:class:`TenantSpec`, :class:`SiteSpec`,
:class:`PoolSpec`, :class:`UserSpec`) and written by one function (:func:`seed_world`)
through the same calls the product uses (:mod:`backend.accounts`, :mod:`pool.numbers`).

What was written comes back by name: ``world.site("crowd").pool.numbers``,
``world.tenant("Crowd Ltd").advertiser_id``, ``world.user("admin@example.com")``.

Named sites shared by several users of this module (the flood guard's crowd) live here too,
so the hardening tests and the flood benchmark use the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from backend import accounts
from pool import numbers as pool_numbers
from pool.store import Store, Tx, now_ms

MIN = 60_000
# The settings' default lease timings (backend/settings.py): a pool of the demo or a test
# behaves as a pool made in the dashboard with nothing changed.
TTL_MS = 30 * MIN
GRACE_MS = 10 * MIN
COOLDOWN_MS = 15 * MIN


def series(prefix: str, count: int, *, first: int = 1, length: int = 13) -> list[str]:
    """``count`` numbers ``prefix`` + a running number from ``first``, zero-padded so each is
    ``length`` characters long (13 = a Japanese ``+8150…`` number; 12 = a US one)."""
    digits = length - len(prefix)
    if digits < len(str(first + count - 1)):
        raise ValueError(f"{count} numbers from {first} do not fit after {prefix!r}")
    return [f"{prefix}{n:0{digits}d}" for n in range(first, first + count)]


@dataclass(frozen=True)
class PoolSpec:
    """One target of a site and the pool of tracking numbers shown in its place.

    ``ttl_ms`` is written as given, even below what the product accepts from people
    (:data:`pool.numbers.MIN_TTL_MS`): tests and benchmarks on the wall clock want numbers
    to change hands within seconds.
    """

    target: str
    numbers: Sequence[str] = ()
    label: str = "main"
    name: str | None = None  # the pool's name; the label when None
    overflow: str | None = None  # a number shown when every pool number is leased
    ttl_ms: int = TTL_MS
    grace_ms: int = GRACE_MS
    cooldown_ms: int = COOLDOWN_MS
    # The tenant the target belongs to when not the site's (a portal's shared site key):
    # one written before the site's own tenant in the same world.
    advertiser: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """A number of its own for one source (a flyer, a radio spot), not in any pool."""

    number: str
    forward_to: str
    label: str


@dataclass(frozen=True)
class SiteSpec:
    """A site: its snippet key, the hostnames allowed to use it and its pools."""

    key: str
    name: str | None = None  # the key when None
    domains: Sequence[str] = ()
    pools: Sequence[PoolSpec] = ()
    sources: Sequence[SourceSpec] = ()
    exhausted_policy: str | None = None  # the schema's default when None
    untracked_policy: str | None = None


@dataclass(frozen=True)
class UserSpec:
    """A dashboard user; a member belongs to the tenant it is listed under.

    ``token``: also give the user an API token of that name (its secret is in
    :attr:`World.tokens`).
    """

    email: str
    password: str
    role: str = "member"
    token: str | None = None
    token_sees_callers: bool = False
    # The right to hear recordings, for the user and its token (issue #22).
    hears_recordings: bool = False


@dataclass(frozen=True)
class TenantSpec:
    """An advertiser with its sites and member users."""

    name: str
    sites: Sequence[SiteSpec] = ()
    users: Sequence[UserSpec] = ()


@dataclass
class Pool:
    """A pool as written: its target, its numbers in order and their ids."""

    target: str
    target_id: int
    pool_id: int
    numbers: list[str] = field(default_factory=list)
    number_ids: list[int] = field(default_factory=list)
    overflow: str | None = None
    overflow_id: int | None = None

    @property
    def ids(self) -> dict[str, int]:
        """Number → id, the overflow number included."""
        out = dict(zip(self.numbers, self.number_ids, strict=True))
        if self.overflow is not None and self.overflow_id is not None:
            out[self.overflow] = self.overflow_id
        return out


@dataclass
class Site:
    """A site as written, with its advertiser and pools (in the order of the spec)."""

    advertiser_id: int
    site_id: int
    site_key: str
    pools: list[Pool] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # number → id

    @property
    def pool(self) -> Pool:
        """The first pool (most sites of tests and benchmarks have one)."""
        return self.pools[0]


@dataclass
class Tenant:
    """An advertiser as written: its id, its sites by key and its users by email."""

    name: str
    advertiser_id: int
    sites: dict[str, Site] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


@dataclass
class World:
    """Everything :func:`seed_world` wrote, by name."""

    tenants: dict[str, Tenant] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)  # every user, admins included
    tokens: dict[str, str] = field(default_factory=dict)  # email → API token secret

    def tenant(self, name: str) -> Tenant:
        """The tenant (advertiser) of that name."""
        return self.tenants[name]

    def site(self, key: str) -> Site:
        """The site of that snippet key, whichever tenant owns it."""
        for tenant in self.tenants.values():
            if key in tenant.sites:
                return tenant.sites[key]
        raise KeyError(key)

    def user(self, email: str) -> int:
        """The id of the user of that email."""
        return self.users[email.lower()]


async def add_pool(
    tx: Tx,
    *,
    advertiser_id: int,
    site_id: int,
    spec: PoolSpec,
    now_ms: int,
    target_advertiser: int | None = None,
) -> Pool:
    """A target of the site, its pool and its numbers (and overflow number), in ``tx``.

    ``advertiser_id`` is the target's advertiser: the site's, or the tenant its spec names.
    """
    target_id = await pool_numbers.add_target(
        tx,
        site_id=site_id,
        number=spec.target,
        label=spec.label,
        now_ms=now_ms,
        advertiser_id=target_advertiser,
    )
    if target_advertiser is not None:
        advertiser_id = target_advertiser  # its numbers (and their calls) are the target's
    pool_id = await pool_numbers.create_pool(
        tx,
        site_id=site_id,
        target_id=target_id,
        name=spec.name if spec.name is not None else spec.label,
        ttl_ms=spec.ttl_ms,
        grace_ms=spec.grace_ms,
        cooldown_ms=spec.cooldown_ms,
        now_ms=now_ms,
    )
    pool = Pool(spec.target, target_id, pool_id, numbers=list(spec.numbers))
    add = partial(
        pool_numbers.add_number,
        tx,
        advertiser_id=advertiser_id,
        forward_to=spec.target,
        site_id=site_id,
        pool_id=pool_id,
        now_ms=now_ms,
    )
    # Pool numbers first, then the overflow number: ids in the order tests expect.
    for number in spec.numbers:
        pool.number_ids.append(await add(number=number))
    if spec.overflow is not None:
        pool.overflow = spec.overflow
        pool.overflow_id = await add(number=spec.overflow, kind="overflow")
    return pool


async def add_site(
    tx: Tx, *, advertiser_id: int, spec: SiteSpec, now_ms: int, world: World | None = None
) -> Site:
    """A site of the advertiser with its pools, in ``tx`` (``world``: where the tenants
    that pools name as their target's advertiser were recorded)."""
    site_id = await accounts.create_site(
        tx,
        advertiser_id=advertiser_id,
        site_key=spec.key,
        name=spec.name if spec.name is not None else spec.key,
        domains=list(spec.domains),
        now_ms=now_ms,
    )
    # Only the policies a spec names are written: the schema's defaults stay the defaults.
    for column, value in (
        ("exhausted_policy", spec.exhausted_policy),
        ("untracked_policy", spec.untracked_policy),
    ):
        if value is not None:
            await tx.execute(
                f"UPDATE sites SET {column} = :v WHERE id = :s", {"v": value, "s": site_id}
            )
    site = Site(advertiser_id, site_id, spec.key)
    for pool in spec.pools:
        site.pools.append(
            await add_pool(
                tx,
                advertiser_id=advertiser_id,
                site_id=site_id,
                spec=pool,
                now_ms=now_ms,
                target_advertiser=(
                    None
                    if pool.advertiser is None or world is None
                    else world.tenant(pool.advertiser).advertiser_id
                ),
            )
        )
    for source in spec.sources:
        site.sources[source.number] = await pool_numbers.add_number(
            tx,
            advertiser_id=advertiser_id,
            number=source.number,
            forward_to=source.forward_to,
            kind="source",
            site_id=site_id,
            source_label=source.label,
            now_ms=now_ms,
        )
    return site


async def add_user(
    tx: Tx, world: World, spec: UserSpec, *, advertiser_id: int | None, now_ms: int
) -> int:
    """A user (and its API token when the spec names one), recorded in ``world``."""
    user_id = await accounts.create_user(
        tx,
        email=spec.email,
        password=spec.password,
        role=spec.role,
        advertiser_id=advertiser_id,
        now_ms=now_ms,
    )
    world.users[spec.email.lower()] = user_id
    if spec.hears_recordings:
        await accounts.set_hears_recordings(tx, user_id=user_id, allowed=True)
    if spec.token is not None:
        world.tokens[spec.email.lower()] = await accounts.create_api_token(
            tx,
            user_id=user_id,
            advertiser_id=advertiser_id,
            name=spec.token,
            now_ms=now_ms,
            can_see_callers=spec.token_sees_callers,
            can_hear_recordings=spec.hears_recordings,
        )
    return user_id


async def add_tenant(tx: Tx, world: World, spec: TenantSpec, *, now_ms: int) -> Tenant:
    """An advertiser with its sites and members, in ``tx``, recorded in ``world``."""
    adv = await accounts.create_advertiser(tx, spec.name, now_ms)
    tenant = Tenant(spec.name, adv)
    for site in spec.sites:
        tenant.sites[site.key] = await add_site(
            tx, advertiser_id=adv, spec=site, now_ms=now_ms, world=world
        )
    for user in spec.users:
        tenant.users[user.email.lower()] = await add_user(
            tx, world, user, advertiser_id=adv, now_ms=now_ms
        )
    world.tenants[spec.name] = tenant
    return tenant


async def seed_world(
    db: Store,
    tenants: Sequence[TenantSpec],
    *,
    admins: Sequence[UserSpec] = (),
    at_ms: int | None = None,
) -> World:
    """Write these tenants and admin users in one unit of work; what was written, by name.

    ``at_ms``: the creation time of every record (tests on a fixed clock pass theirs);
    now when None.
    """
    t = now_ms() if at_ms is None else at_ms
    world = World()
    async with db.write() as tx:
        for tenant in tenants:
            await add_tenant(tx, world, tenant, now_ms=t)
        for admin in admins:
            await add_user(tx, world, replace(admin, role="admin"), advertiser_id=None, now_ms=t)
    return world


async def seed_site(db: Store, tenant: str, site: SiteSpec, *, at_ms: int | None = None) -> Site:
    """The common case: one advertiser named ``tenant`` with this one site."""
    world = await seed_world(db, [TenantSpec(tenant, sites=[site])], at_ms=at_ms)
    return world.site(site.key)


# The crowd: a shop on shop.example (and 127.0.0.1, where in-process and local clients come
# from) with one pool big enough for many visitors at once. The flood guard's tests and its
# benchmark use it (with more numbers for the benchmark: replace(CROWD, pools=…)).
CROWD_SITE = "crowd"
CROWD_HOST = "shop.example"
CROWD_TARGET = "+81312340000"


def crowd(size: int = 80, *, key: str = CROWD_SITE) -> SiteSpec:
    """The crowd site with a pool of ``size`` numbers +815020000001…"""
    return SiteSpec(
        key=key,
        name="Crowd",
        domains=[CROWD_HOST, "127.0.0.1"],
        pools=[PoolSpec(CROWD_TARGET, series("+815020", size))],
    )


# The scale site: one target swapped for a pool of many numbers (+815019000000…) with an
# overflow number, leases as short as a test or benchmark on the wall clock wants. The
# storage tests (claims racing on both stores) and the scale-out benchmark use it.
SCALE_TARGET = "+81355550000"
SCALE_OVERFLOW = "+815019099999"


def scale(
    size: int,
    *,
    key: str = "scale",
    ttl_ms: int = MIN,
    cooldown_ms: int = 0,
    overflow: bool = False,
    name: str = "Scale test site",
) -> SiteSpec:
    """The scale site with ``size`` pool numbers, no grace, and the overflow when asked."""
    pool = PoolSpec(
        SCALE_TARGET,
        series("+8150190", size, first=0),
        overflow=SCALE_OVERFLOW if overflow else None,
        ttl_ms=ttl_ms,
        grace_ms=0,
        cooldown_ms=cooldown_ms,
    )
    return SiteSpec(key, name=name, domains=["127.0.0.1", "localhost"], pools=[pool])


async def add_reservation_numbers(
    tx: Tx,
    numbers: Sequence[str],
    *,
    advertiser_id: int | None = None,
    phones: Sequence[str] = (),
    phones_of: int | None = None,
    now_ms: int,
) -> list[int]:
    """Reservation numbers (``advertiser_id`` None: shared by every advertiser) and the
    registered phones of advertiser ``phones_of`` (else ``advertiser_id``); the numbers' ids."""
    ids = []
    for number in numbers:
        ids.append(
            int(
                await tx.fetchval(
                    "INSERT INTO reservation_numbers (number, advertiser_id, created_ms)"
                    " VALUES (:n, :a, :t) RETURNING id",
                    {"n": number, "a": advertiser_id, "t": now_ms},
                )
            )
        )
    owner = phones_of if phones_of is not None else advertiser_id
    for phone in phones:
        await tx.execute(
            "INSERT INTO reservation_phones (advertiser_id, phone, created_ms) VALUES (:a, :p, :t)",
            {"a": owner, "p": phone, "t": now_ms},
        )
    return ids
