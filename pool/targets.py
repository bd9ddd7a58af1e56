"""The advertiser of a target: one site key shared by several advertisers (portals, #16).

A site belongs to one advertiser (its owner: the portal running the pages). Each target (a
business number shown on those pages) belongs to its site's advertiser unless it names
another one (``targets.advertiser_id``; NULL means the site's). What belongs to a target
follows its advertiser: the tracking numbers of its pool (so the calls to them, whose
advertiser is their number's, see :mod:`attribution.matching`) and therefore the leases and
sessions shown those numbers. Reads are limited by :class:`pool.scope.Scope`
(:meth:`~pool.scope.Scope.call_condition`, :meth:`~pool.scope.Scope.session_condition`).

Only someone who may manage the site (its owner's members, an administrator) sets a
target's advertiser, and only to an advertiser they may see: a member can give a target
only to their own advertiser, so a target of another advertiser is an administrator's act.
"""

from __future__ import annotations

from pool.numbers import NumberError
from pool.scope import scope_of
from pool.store import Row, Store, Tx

# The advertiser a target belongs to, for a query joining targets ``t`` and sites ``s``.
TARGET_ADVERTISER = "COALESCE(t.advertiser_id, s.advertiser_id)"


async def target_of_pool(db: Store | Tx, pool_id: int) -> Row | None:
    """The target of a pool with its site's advertiser and its own (``advertiser_id``)."""
    return await db.fetchone(
        "SELECT t.id, t.site_id, t.number, s.advertiser_id AS site_advertiser_id,"
        f" {TARGET_ADVERTISER} AS advertiser_id, s.number_per_visitor FROM pools p"
        " JOIN targets t ON t.id = p.target_id JOIN sites s ON s.id = t.site_id"
        " WHERE p.id = :p",
        {"p": pool_id},
    )


async def shared_site(db: Store | Tx, site_id: int) -> bool:
    """Whether some target of the site belongs to another advertiser than the site's."""
    found = await db.fetchval(
        "SELECT 1 FROM targets t JOIN sites s ON s.id = t.site_id WHERE t.site_id = :s"
        " AND t.advertiser_id IS NOT NULL AND t.advertiser_id <> s.advertiser_id LIMIT 1",
        {"s": site_id},
    )
    return found is not None


async def set_advertiser(
    db: Store, *, pool_id: int, advertiser_id: int | None, caller: int | None
) -> int:
    """Give the target of ``pool_id`` (and its pool's numbers) to ``advertiser_id``.

    ``advertiser_id`` None gives it back to its site's advertiser. ``caller`` is the scope
    of who asks (None: an administrator): the site must be theirs (LookupError otherwise,
    as if it did not exist) and so must the advertiser named (LookupError too). A site with
    one number per visitor cannot have targets of several advertisers (its one number
    stands in for every target, so a call could not be credited): :class:`NumberError`.
    Calls made before keep the advertiser they were credited to. Returns the target's
    advertiser now.
    """
    async with db.write() as tx:
        return await give(tx, pool_id=pool_id, advertiser_id=advertiser_id, caller=caller)


async def give(tx: Tx, *, pool_id: int, advertiser_id: int | None, caller: int | None) -> int:
    """:func:`set_advertiser` within the unit of work ``tx`` (a pool being created)."""
    scope = scope_of(caller)
    target = await target_of_pool(tx, pool_id)
    if target is None or not scope.allows(target["site_advertiser_id"], target["site_id"]):
        raise LookupError(f"no pool {pool_id}")
    wanted = int(target["site_advertiser_id"]) if advertiser_id is None else advertiser_id
    exists = await tx.fetchval("SELECT 1 FROM advertisers WHERE id = :a", {"a": wanted})
    if exists is None or not scope.allows(wanted):
        raise LookupError(f"no advertiser {wanted}")
    own = wanted == int(target["site_advertiser_id"])
    if not own and target["number_per_visitor"]:
        raise NumberError(
            "a site with one number per visitor cannot have targets of other advertisers",
            field="advertiser_id",
        )
    await tx.execute(
        "UPDATE targets SET advertiser_id = :a WHERE id = :t",
        {"a": None if own else wanted, "t": target["id"]},
    )
    # The pool's numbers (pool and overflow) take calls for the target: its advertiser's.
    await tx.execute(
        "UPDATE tracking_numbers SET advertiser_id = :a WHERE pool_id = :p",
        {"a": wanted, "p": pool_id},
    )
    return wanted
