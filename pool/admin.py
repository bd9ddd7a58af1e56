"""Managing numbers, pools and rules by site key, scoped to one advertiser or to all.

The API (``/api/numbers``, ``/api/pools``, ``/api/rules``) and the CLI (``callpath numbers``,
``callpath pools``) share these functions. ``advertiser_id`` None means every advertiser (an
administrator); otherwise records of other advertisers behave as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pool import destinations, leases, numbers, rules, targets
from pool.inventory import unavailable
from pool.numbers import NumberError
from pool.scope import scope_of
from pool.store import Row, Store, fetch_found

NUMBER_COLUMNS = (
    "n.id, n.number, n.kind, n.status, n.forward_to, n.pool_id, n.source_label AS label,"
    " n.advertiser_id, n.created_ms, n.retired_ms, s.site_key AS site,"
    " (SELECT COUNT(*) FROM leases l WHERE l.number_id = n.id AND l.ended_ms IS NULL"
    "  AND l.expires_ms > :now) AS live_leases"
)


async def find_site(db: Store, site_key: str, advertiser_id: int | None) -> Row:
    """The site with this key visible to the caller; LookupError otherwise."""
    site = await db.fetchone(
        "SELECT id, advertiser_id, site_key, country, exhausted_policy, untracked_policy,"
        " number_per_visitor, default_target_id FROM sites WHERE site_key = :k",
        {"k": site_key},
    )
    if site is None or not scope_of(advertiser_id).allows(site["advertiser_id"], site["id"]):
        raise LookupError(f"no site has the key {site_key!r}")
    return site


async def _settle_retirements(db: Store, now_ms: int) -> None:
    """Finish retirements whose lease idled out since (no claim in the pool stamped it)."""
    if await db.fetchval("SELECT 1 FROM tracking_numbers WHERE status = 'retiring' LIMIT 1"):
        await leases.sweep(db, now_ms=now_ms)


def number_view(row: Row) -> dict[str, Any]:
    """A tracking number as plain data, with its national and international forms."""
    f = numbers.formats(row["number"])
    return {
        "id": row["id"],
        "number": row["number"],
        "national": f.national,
        "international": f.international,
        "kind": row["kind"],
        "status": row["status"],
        "forward_to": row["forward_to"],
        "site": row["site"],
        "pool_id": row["pool_id"],
        "label": row["label"],
        "live_leases": int(row["live_leases"] or 0),
        "created_ms": row["created_ms"],
        "retired_ms": row["retired_ms"],
    }


async def list_numbers(
    db: Store,
    *,
    advertiser_id: int | None,
    now_ms: int,
    site_key: str = "",
    kind: str = "",
    status: str = "",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Tracking numbers visible to the caller, filtered, in id order."""
    await _settle_retirements(db, now_ms)
    where, params = scope_of(advertiser_id).and_condition("n")
    params.update({"now": now_ms, "lim": limit, "off": offset})
    for name, value, column in (
        ("site", site_key, "s.site_key"),
        ("kind", kind, "n.kind"),
        ("status", status, "n.status"),
    ):
        if value:
            where += f" AND {column} = :{name}"
            params[name] = value
    rows = await db.fetchall(
        f"SELECT {NUMBER_COLUMNS} FROM tracking_numbers n LEFT JOIN sites s ON s.id = n.site_id"
        f" WHERE 1 = 1{where} ORDER BY n.id LIMIT :lim OFFSET :off",
        params,
    )
    return [number_view(r) for r in rows]


async def get_number(
    db: Store, *, number_id: int, advertiser_id: int | None, now_ms: int
) -> dict[str, Any]:
    """One tracking number visible to the caller; LookupError otherwise."""
    await _settle_retirements(db, now_ms)
    where, params = scope_of(advertiser_id).and_condition("n")
    row = await fetch_found(
        db,
        f"SELECT {NUMBER_COLUMNS} FROM tracking_numbers n LEFT JOIN sites s ON s.id = n.site_id"
        f" WHERE n.id = :id{where}",
        {**params, "id": number_id, "now": now_ms},
        f"no tracking number {number_id}",
    )
    return number_view(row)


async def numbers_by_ids(
    db: Store, ids: list[int], *, advertiser_id: int | None, now_ms: int
) -> list[dict[str, Any]]:
    """The numbers with these ids visible to the caller, in the order of ``ids``."""
    where, params = scope_of(advertiser_id).and_condition("n")
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        names = {f"i{k}": v for k, v in enumerate(chunk)}
        marks = ", ".join(f":{k}" for k in names)
        rows = await db.fetchall(
            f"SELECT {NUMBER_COLUMNS} FROM tracking_numbers n"
            f" LEFT JOIN sites s ON s.id = n.site_id WHERE n.id IN ({marks}){where}",
            {**params, **names, "now": now_ms},
        )
        found.update({r["id"]: number_view(r) for r in rows})
    return [found[i] for i in ids if i in found]


async def find_number(db: Store, text: str, *, advertiser_id: int | None) -> int:
    """The id of a stored tracking number given as id, E.164 or national (JP) text."""
    # One lookup within the caller's scope, one message: another advertiser's number reads
    # exactly like a number nobody has.
    where, params = scope_of(advertiser_id).and_condition()
    value: int | str
    if text.isdigit() and len(text) < 10:
        column, value = "id", int(text)
    else:
        column, value = "number", numbers.to_e164(text)
    found = await db.fetchval(
        f"SELECT id FROM tracking_numbers WHERE {column} = :v{where}", {**params, "v": value}
    )
    if found is None:
        raise LookupError(f"no tracking number {text}")
    return int(found)


async def retire(db: Store, *, number_id: int, advertiser_id: int | None, now_ms: int) -> str:
    """Retire a number the caller can see; return 'retiring' or 'retired'."""
    await get_number(db, number_id=number_id, advertiser_id=advertiser_id, now_ms=now_ms)
    return await numbers.retire_number(db, number_id=number_id, now_ms=now_ms)


async def new_pool(
    db: Store,
    *,
    site_key: str,
    target: str,
    label: str,
    ttl_ms: int,
    grace_ms: int,
    cooldown_ms: int,
    advertiser_id: int | None,
    now_ms: int,
    forward_countries: Collection[str] = (),
    target_advertiser: int | None = None,
) -> int:
    """Create the pool of a site's target (the business number, created when new).

    The target is where its pool's numbers forward by default, so it must be a number
    calls may be forwarded to (:mod:`pool.destinations`; ``forward_countries`` as there).
    ``target_advertiser``: the advertiser the target belongs to when not the site's (a
    portal's shared site, :func:`pool.targets.give`).
    """
    site = await find_site(db, site_key, advertiser_id)
    numbers.check_timings(ttl_ms=ttl_ms, grace_ms=grace_ms, cooldown_ms=cooldown_ms)
    e164 = destinations.check_destination(
        target, site_country=site["country"], countries=forward_countries, field="target"
    )
    holder = await db.fetchone(
        "SELECT advertiser_id FROM tracking_numbers WHERE number = :n", {"n": e164}
    )
    if holder is not None:
        if not scope_of(advertiser_id).allows(holder["advertiser_id"]):
            # Another advertiser's number: say nothing about whose it is or what it is.
            raise NumberError(unavailable(e164), field="target")
        raise NumberError(f"{e164} is a tracking number, not a business number", field="target")
    async with db.write() as tx:
        target_id = await numbers.ensure_target(
            tx, site_id=site["id"], number=e164, label=label[:200], now_ms=now_ms
        )
        pool_id = await numbers.create_pool(
            tx,
            site_id=site["id"],
            target_id=target_id,
            name=label or e164,
            ttl_ms=ttl_ms,
            grace_ms=grace_ms,
            cooldown_ms=cooldown_ms,
            now_ms=now_ms,
        )
        if target_advertiser is not None:
            await targets.give(
                tx, pool_id=pool_id, advertiser_id=target_advertiser, caller=advertiser_id
            )
        return pool_id


async def list_pools(
    db: Store, *, advertiser_id: int | None, site_key: str = ""
) -> list[dict[str, Any]]:
    """Pools visible to the caller: site, target, timings and how many numbers."""
    where, params = scope_of(advertiser_id).and_condition("s", site="id")
    if site_key:
        where += " AND s.site_key = :site"
        params["site"] = site_key
    rows = await db.fetchall(
        "SELECT p.id, p.name, p.ttl_ms, p.grace_ms, p.cooldown_ms, p.exhausted_count,"
        " s.site_key AS site, s.exhausted_policy, t.number AS target, o.number AS overflow,"
        f" {targets.TARGET_ADVERTISER} AS advertiser_id,"
        " (SELECT COUNT(*) FROM tracking_numbers n WHERE n.pool_id = p.id AND n.kind = 'pool'"
        "  AND n.status = 'active') AS size"
        " FROM pools p JOIN sites s ON s.id = p.site_id JOIN targets t ON t.id = p.target_id"
        " LEFT JOIN tracking_numbers o ON o.id = p.overflow_number_id"
        f" WHERE 1 = 1{where} ORDER BY p.id",
        params,
    )
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "site": r["site"],
            "target": r["target"],
            "advertiser_id": int(r["advertiser_id"]),
            "size": int(r["size"]),
            "overflow_number": r["overflow"],
            "exhausted_policy": r["exhausted_policy"],
            "ttl_seconds": r["ttl_ms"] // 1000,
            "grace_seconds": r["grace_ms"] // 1000,
            "cooldown_seconds": r["cooldown_ms"] // 1000,
            "exhausted_count": int(r["exhausted_count"]),
        }
        for r in rows
    ]


async def pool_site(db: Store, *, pool_id: int, advertiser_id: int | None) -> Row:
    """The pool's id and site, if the caller can see it; LookupError otherwise."""
    where, params = scope_of(advertiser_id).and_condition("s", site="id")
    row = await fetch_found(
        db,
        "SELECT p.id, s.site_key FROM pools p JOIN sites s ON s.id = p.site_id"
        f" WHERE p.id = :p{where}",
        {**params, "p": pool_id},
        f"no pool {pool_id}",
    )
    return row


async def _site_phone_id(
    db: Store, site: Row, phone: str, table: str, field: str, what: str
) -> int:
    """Id of the row of ``table`` (one of two fixed names) holding ``phone`` for ``site``.

    Both failures name ``field`` so the form or API shows the error beside the right input.
    """
    try:
        e164 = numbers.to_e164(phone, site["country"])
    except NumberError as exc:
        raise NumberError(str(exc), field=field) from exc
    found = await db.fetchval(
        f"SELECT id FROM {table} WHERE number = :n AND site_id = :s",
        {"n": e164, "s": site["id"]},
    )
    if found is None:
        raise NumberError(f"{e164} is not {what} of this site", field=field)
    return int(found)


async def new_rule(
    db: Store,
    *,
    site_key: str,
    advertiser_id: int | None,
    kind: str,
    match_key: str,
    match_value: str,
    action: str,
    number: str = "",
    target: str = "",
    priority: int = 100,
    label: str = "",
    now_ms: int,
) -> int:
    """Store a source rule; ``number`` (a source number) and ``target`` given as phone text."""
    site = await find_site(db, site_key, advertiser_id)
    number_id = (
        await _site_phone_id(db, site, number, "tracking_numbers", "number", "a tracking number")
        if number
        else None
    )
    target_id = (
        await _site_phone_id(db, site, target, "targets", "target", "a business number")
        if target
        else None
    )
    async with db.write() as tx:
        return await rules.add_rule(
            tx,
            site_id=site["id"],
            kind=kind,
            match_key=match_key,
            match_value=match_value,
            action=action,
            number_id=number_id,
            target_id=target_id,
            priority=priority,
            label=label,
            now_ms=now_ms,
        )


async def list_rules(
    db: Store, *, site_key: str, advertiser_id: int | None
) -> list[dict[str, Any]]:
    """The site's rules in the order they are tried within each kind."""
    site = await find_site(db, site_key, advertiser_id)
    rows = await db.fetchall(
        "SELECT r.id, r.kind, r.match_key, r.match_value, r.action, r.priority, r.label,"
        " n.number, t.number AS target FROM source_rules r"
        " LEFT JOIN tracking_numbers n ON n.id = r.number_id"
        " LEFT JOIN targets t ON t.id = r.target_id WHERE r.site_id = :s"
        " ORDER BY r.kind, r.priority, r.id",
        {"s": site["id"]},
    )
    return [{**r, "site": site_key} for r in rows]


async def delete_rule(db: Store, *, rule_id: int, advertiser_id: int | None) -> None:
    """Delete a rule the caller can see; LookupError otherwise."""
    where, params = scope_of(advertiser_id).and_condition("s", site="id")
    async with db.write() as tx:
        found = await tx.fetchval(
            "SELECT r.id FROM source_rules r JOIN sites s ON s.id = r.site_id"
            f" WHERE r.id = :r{where}",
            {**params, "r": rule_id},
        )
        if found is None:
            raise LookupError(f"no rule {rule_id}")
        await tx.execute("DELETE FROM source_rules WHERE id = :r", {"r": rule_id})


EXHAUSTED_POLICIES = ("overflow", "original")


async def target_number(db: Store, target_id: int | None) -> str:
    """A target's number (E.164), '' for none."""
    if target_id is None:
        return ""
    return str(
        await db.fetchval("SELECT number FROM targets WHERE id = :t", {"t": target_id}) or ""
    )


async def set_policies(
    db: Store,
    *,
    site_key: str,
    advertiser_id: int | None,
    untracked_policy: str = "",
    exhausted_policy: str = "",
    number_per_visitor: bool | None = None,
    default_target: str | None = None,
) -> dict[str, Any]:
    """Change a site's policies ('' or None keeps one); return them as they now are.

    ``untracked_policy``: 'pool' (untracked visits get a pool number) or 'original' (they
    keep the page's number). ``exhausted_policy``: 'overflow' or 'original' (see
    :func:`pool.leases.acquire`). ``number_per_visitor``: one number per visitor standing in
    for every target (True) or one per target on the page (False). ``default_target``: the
    target (E.164) whose pool supplies those numbers and that takes calls of visitors whose
    last-seen target is unknown ('' clears it: the first target with a pool).
    """
    site = await find_site(db, site_key, advertiser_id)
    if untracked_policy and untracked_policy not in rules.UNTRACKED_POLICIES:
        raise NumberError(
            f"untracked_policy must be one of {', '.join(rules.UNTRACKED_POLICIES)}",
            field="untracked_policy",
        )
    if exhausted_policy and exhausted_policy not in EXHAUSTED_POLICIES:
        raise NumberError(
            f"exhausted_policy must be one of {', '.join(EXHAUSTED_POLICIES)}",
            field="exhausted_policy",
        )
    default_id = site["default_target_id"]
    if default_target is not None:
        default_id = None
        if default_target:
            default_id = await db.fetchval(
                "SELECT t.id FROM targets t JOIN pools p ON p.target_id = t.id"
                " WHERE t.site_id = :s AND t.number = :n",
                {"s": site["id"], "n": default_target.strip()},
            )
            if default_id is None:
                raise NumberError(
                    "default_target must be a target of the site with a pool",
                    field="default_target",
                )
    untracked = untracked_policy or site["untracked_policy"]
    exhausted = exhausted_policy or site["exhausted_policy"]
    per_visitor = (
        bool(site["number_per_visitor"]) if number_per_visitor is None else number_per_visitor
    )
    if per_visitor and await targets.shared_site(db, int(site["id"])):
        # One number stands in for every target: its calls could not be credited to theirs.
        raise NumberError(
            "one number per visitor needs every target of the site to be the site's own",
            field="number_per_visitor",
        )
    await db.execute(
        "UPDATE sites SET untracked_policy = :u, exhausted_policy = :e,"
        " number_per_visitor = :v, default_target_id = :d WHERE id = :s",
        {"u": untracked, "e": exhausted, "v": int(per_visitor), "d": default_id, "s": site["id"]},
    )
    return {
        "site": site_key,
        "untracked_policy": untracked,
        "exhausted_policy": exhausted,
        "number_per_visitor": per_visitor,
        "default_target": await target_number(db, default_id),
    }
