"""The demo installation `make run` starts with: one advertiser, one site, three pools."""

from __future__ import annotations

from typing import Any

from backend import accounts
from backend.settings import Settings
from pool import numbers
from pool.store import Store, now_ms

DEMO_SITE_KEY = "demo"
DEMO_LOGIN = ("admin@example.com", "callpath-demo")

# (target shown on the page, label, tracking numbers leased in its place)
_TARGETS = [
    ("+81312345678", "東京本院 (Tokyo)", [f"+815017{n:06d}" for n in range(1, 6)]),
    ("+81120123456", "フリーダイヤル (toll-free)", [f"+8150180{n:05d}" for n in range(1, 4)]),
    ("+12125550100", "New York office", [f"+1212555{n:04d}" for n in range(150, 153)]),
]


async def seed_demo(db: Store, settings: Settings) -> dict[str, Any]:
    """Create the demo data once; on later runs return what is there."""
    existing = await db.fetchone(
        "SELECT id, advertiser_id FROM sites WHERE site_key = :k", {"k": DEMO_SITE_KEY}
    )
    if existing is None:
        await _create(db, settings)
    return await describe_demo(db)


async def _create(db: Store, settings: Settings) -> None:
    t = now_ms()
    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, "Demo Dental Clinic", t)
        site = await accounts.create_site(
            tx,
            advertiser_id=adv,
            site_key=DEMO_SITE_KEY,
            name="Demo site",
            domains=["127.0.0.1", "localhost"],
            now_ms=t,
        )
        for target, label, tracking in _TARGETS:
            target_id = await accounts.add_target(
                tx, site_id=site, number=target, label=label, now_ms=t
            )
            pool_id = await numbers.create_pool(
                tx,
                site_id=site,
                target_id=target_id,
                name=label,
                ttl_ms=settings.lease_ttl_seconds * 1000,
                grace_ms=settings.lease_grace_seconds * 1000,
                cooldown_ms=settings.lease_cooldown_seconds * 1000,
                now_ms=t,
            )
            for number in tracking:
                await numbers.add_number(
                    tx,
                    advertiser_id=adv,
                    number=number,
                    forward_to=target,
                    site_id=site,
                    pool_id=pool_id,
                    now_ms=t,
                )
        user = await accounts.create_user(
            tx, email=DEMO_LOGIN[0], password=DEMO_LOGIN[1], role="admin", now_ms=t
        )
        token = await accounts.create_api_token(
            tx, user_id=user, advertiser_id=None, name="demo", now_ms=t, can_see_callers=True
        )
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS demo_secrets (name TEXT PRIMARY KEY, value TEXT)"
        )
        await tx.execute(
            "INSERT INTO demo_secrets (name, value) VALUES ('api_token', :v)", {"v": token}
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
