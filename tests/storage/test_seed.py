"""The shared factory (backend/storage/seed.py) writes what its specs say, on both stores."""

from __future__ import annotations

import pytest

from backend.auth import token_digest
from backend.storage import seed
from pool.store import Store


def test_series_pads_to_the_length_and_refuses_what_does_not_fit() -> None:
    assert seed.series("+815020", 2) == ["+815020000001", "+815020000002"]
    assert seed.series("+1212555", 2, first=150, length=12) == ["+12125550150", "+12125550151"]
    with pytest.raises(ValueError):
        seed.series("+8150200000", 1000)


async def test_a_world_is_written_and_named(db: Store) -> None:
    clinic = seed.SiteSpec(
        "clinic",
        domains=["clinic.example"],
        pools=[
            seed.PoolSpec("+81312345678", seed.series("+815017", 3), overflow="+815017009999"),
            seed.PoolSpec("+81120123456", seed.series("+8150180", 1), label="free"),
        ],
        sources=[seed.SourceSpec("+815017008888", "+81312345678", "flyer")],
        exhausted_policy="original",
    )
    member = seed.UserSpec("Member@Example.com", "pw-member-1", token="t")
    world = await seed.seed_world(
        db,
        [seed.TenantSpec("Clinic", [clinic], [member]), seed.TenantSpec("Crowd", [seed.crowd(4)])],
        admins=[seed.UserSpec("root@example.com", "pw-root-1")],
    )
    site = world.site("clinic")
    assert site.advertiser_id == world.tenant("Clinic").advertiser_id
    assert world.site(seed.CROWD_SITE).advertiser_id == world.tenant("Crowd").advertiser_id
    with pytest.raises(KeyError):
        world.site("nowhere")

    rows = await db.fetchall(
        "SELECT n.id, n.number, n.kind, n.forward_to, n.pool_id, n.source_label"
        " FROM tracking_numbers n WHERE n.site_id = :s ORDER BY n.id",
        {"s": site.site_id},
    )
    by_number = {r["number"]: r for r in rows}
    first, second = site.pools
    assert second.target == "+81120123456" and second.numbers == ["+815018000001"]
    assert site.pool is first
    assert [r["number"] for r in rows if r["pool_id"] == first.pool_id] == [
        *first.numbers,
        "+815017009999",
    ]
    assert first.ids == {r["number"]: r["id"] for r in rows if r["pool_id"] == first.pool_id}
    assert by_number["+815017009999"]["kind"] == "overflow"
    assert by_number["+815018000001"]["forward_to"] == "+81120123456"
    assert by_number["+815017008888"]["kind"] == "source"
    assert by_number["+815017008888"]["source_label"] == "flyer"
    assert site.sources == {"+815017008888": by_number["+815017008888"]["id"]}
    pool = await db.fetchone(
        "SELECT overflow_number_id, ttl_ms, grace_ms, cooldown_ms FROM pools WHERE id = :p",
        {"p": first.pool_id},
    )
    assert pool is not None
    assert pool["overflow_number_id"] == first.overflow_id
    assert (pool["ttl_ms"], pool["grace_ms"], pool["cooldown_ms"]) == (
        seed.TTL_MS,
        seed.GRACE_MS,
        seed.COOLDOWN_MS,
    )
    policy = await db.fetchval(
        "SELECT exhausted_policy FROM sites WHERE id = :s", {"s": site.site_id}
    )
    assert policy == "original"

    users = await db.fetchall("SELECT id, email, role, advertiser_id FROM users ORDER BY id")
    assert [(u["email"], u["role"], u["advertiser_id"]) for u in users] == [
        ("member@example.com", "member", site.advertiser_id),
        ("root@example.com", "admin", None),
    ]
    assert world.user("MEMBER@example.com") == users[0]["id"]
    token = await db.fetchone(
        "SELECT user_id, advertiser_id FROM api_tokens WHERE token_hash = :h",
        {"h": token_digest(world.tokens["member@example.com"])},
    )
    assert token is not None
    assert (token["user_id"], token["advertiser_id"]) == (users[0]["id"], site.advertiser_id)
