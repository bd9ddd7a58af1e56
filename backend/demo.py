"""The demo installation `make run` starts with: one advertiser, one site, three pools."""

from __future__ import annotations

from typing import Any

from backend.settings import Settings
from backend.storage import seed
from pool.store import Store, now_ms

DEMO_SITE_KEY = "demo"
DEMO_LOGIN = ("admin@example.com", "callpath-demo")

# (target shown on the page, label, tracking numbers leased in its place)
_TARGETS = [
    ("+81312345678", "東京本院 (Tokyo)", seed.series("+815017", 5)),
    ("+81120123456", "フリーダイヤル (toll-free)", seed.series("+8150180", 3)),
    ("+12125550100", "New York office", seed.series("+1212555", 3, first=150, length=12)),
]


def demo_tenant(settings: Settings) -> seed.TenantSpec:
    """The demo advertiser and its site, its pools timed as the settings say."""
    timings = {
        "ttl_ms": settings.lease_ttl_seconds * 1000,
        "grace_ms": settings.lease_grace_seconds * 1000,
        "cooldown_ms": settings.lease_cooldown_seconds * 1000,
    }
    pools = [seed.PoolSpec(t, tracking, label=label, **timings) for t, label, tracking in _TARGETS]
    site = seed.SiteSpec(
        DEMO_SITE_KEY, name="Demo site", domains=["127.0.0.1", "localhost"], pools=pools
    )
    return seed.TenantSpec("Demo Dental Clinic", sites=[site])


async def seed_demo(db: Store, settings: Settings) -> dict[str, Any]:
    """Create the demo data once; on later runs return what is there."""
    existing = await db.fetchone(
        "SELECT id, advertiser_id FROM sites WHERE site_key = :k", {"k": DEMO_SITE_KEY}
    )
    if existing is None:
        await _create(db, settings)
    return await describe_demo(db)


async def _create(db: Store, settings: Settings) -> None:
    admin = seed.UserSpec(*DEMO_LOGIN, role="admin", token="demo", token_sees_callers=True)
    world = seed.World()
    t = now_ms()
    async with db.write() as tx:  # one unit of work: a demo is there whole or not at all
        await seed.add_tenant(tx, world, demo_tenant(settings), now_ms=t)
        await seed.add_user(tx, world, admin, advertiser_id=None, now_ms=t)
        # The product keeps only a hash of a token; the demo prints its secret on every run.
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS demo_secrets (name TEXT PRIMARY KEY, value TEXT)"
        )
        await tx.execute(
            "INSERT INTO demo_secrets (name, value) VALUES ('api_token', :v)",
            {"v": world.tokens[DEMO_LOGIN[0]]},
        )


async def describe_demo(db: Store) -> dict[str, Any]:
    """What `callpath demo` prints: site key, numbers, login and API token."""
    site = await db.fetchone(
        "SELECT id, site_key FROM sites WHERE site_key = :k", {"k": DEMO_SITE_KEY}
    )
    assert site is not None
    targets = await db.fetchall(
        "SELECT t.number, t.label, p.id AS pool_id FROM targets t JOIN pools p"
        " ON p.target_id = t.id WHERE t.site_id = :s ORDER BY t.id",
        {"s": site["id"]},
    )
    out_targets = []
    for target in targets:
        rows = await db.fetchall(
            "SELECT number FROM tracking_numbers WHERE pool_id = :p ORDER BY id",
            {"p": target["pool_id"]},
        )
        out_targets.append(
            {
                "number": target["number"],
                "label": target["label"],
                "tracking_numbers": [r["number"] for r in rows],
            }
        )
    token = await db.fetchval("SELECT value FROM demo_secrets WHERE name = 'api_token'")
    return {
        "site_key": site["site_key"],
        "targets": out_targets,
        "login": {"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
        "api_token": token,
    }
