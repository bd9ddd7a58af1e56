"""Tracking-number inventory: parsing to E.164, adding and retiring numbers, creating pools."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers

from pool.store import Store, Tx, fetch_found

KINDS = ("pool", "source", "overflow")

# Bounds on a pool's timings: a lease lives at least a minute and at most a day idle.
MIN_TTL_MS = 60_000
MAX_TTL_MS = 86_400_000
MAX_REST_MS = 7 * 86_400_000


class NumberError(ValueError):
    """A phone number, pool or rule that cannot be used, with the reason in words."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def parse(text: str, region: str = "JP") -> phonenumbers.PhoneNumber:
    """Parse ``text`` (national for ``region``, or international) into a valid number.

    Raises :class:`NumberError` when libphonenumber does not consider it a valid number.
    """
    raw = (text or "").strip()
    if not raw or len(raw) > 40:
        raise NumberError(f"not a phone number: {raw[:40]!r}")
    try:
        parsed = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise NumberError(f"not a phone number: {raw!r} ({exc})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise NumberError(f"not a valid number: {raw!r}")
    # libphonenumber accepts a few national ranges (e.g. German) longer than E.164 allows;
    # such a number could not be stored or dialled as E.164, so it is refused here.
    if len(str(parsed.country_code)) + len(str(parsed.national_number)) > 15:
        raise NumberError(f"longer than E.164 allows (15 digits): {raw!r}")
    return parsed


def to_e164(text: str, region: str = "JP") -> str:
    """Parse ``text`` (national or international) and return it in E.164.

    Raises :class:`NumberError` when libphonenumber does not consider it a valid number.
    """
    return phonenumbers.format_number(parse(text, region), phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str:
    """The ISO country code of an E.164 number ('JP', 'US', ...), or '' when unknown."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
    except phonenumbers.NumberParseException:
        return ""


@dataclass(frozen=True)
class Formats:
    """How a number is written: E.164, national and international."""

    e164: str
    national: str
    international: str


@functools.lru_cache(maxsize=4096)
def formats(e164: str) -> Formats:
    """The national and international ways to write an E.164 number.

    Stored with each tracking number when it is added (``national``, ``international``);
    cached here for the numbers that are not (static targets, numbers added before).
    """
    parsed = phonenumbers.parse(e164)
    return Formats(
        e164,
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    )


def check_timings(*, ttl_ms: int, grace_ms: int, cooldown_ms: int) -> None:
    """Refuse pool timings outside sane bounds (ttl 1 min..1 day; grace, cooldown 0..7 days)."""
    if not MIN_TTL_MS <= ttl_ms <= MAX_TTL_MS:
        raise NumberError("ttl must be between 60 seconds and 1 day", field="ttl_seconds")
    if not 0 <= grace_ms <= MAX_REST_MS:
        raise NumberError("grace must be between 0 and 7 days", field="grace_seconds")
    if not 0 <= cooldown_ms <= MAX_REST_MS:
        raise NumberError("cooldown must be between 0 and 7 days", field="cooldown_seconds")


async def ensure_target(tx: Tx, *, site_id: int, number: str, label: str, now_ms: int) -> int:
    """The id of the site's target (business number, E.164), created when missing."""
    found = await tx.fetchval(
        "SELECT id FROM targets WHERE site_id = :s AND number = :n", {"s": site_id, "n": number}
    )
    if found is not None:
        return int(found)
    return await add_target(tx, site_id=site_id, number=number, label=label, now_ms=now_ms)


async def add_target(
    tx: Tx,
    *,
    site_id: int,
    number: str,
    label: str,
    now_ms: int,
    advertiser_id: int | None = None,
) -> int:
    """Store a new business number shown on the site (E.164), to be swapped for tracking
    numbers; a number the site has already breaks the unique constraint.

    ``advertiser_id``: the advertiser it belongs to when not the site's (None), checked
    by the caller (:mod:`pool.targets`).
    """
    target_id: int = await tx.fetchval(
        "INSERT INTO targets (site_id, number, label, created_ms, advertiser_id)"
        " VALUES (:s, :n, :l, :t, :a) RETURNING id",
        {"s": site_id, "n": number, "l": label, "t": now_ms, "a": advertiser_id},
    )
    return target_id


async def create_pool(
    tx: Tx,
    *,
    site_id: int,
    target_id: int,
    name: str,
    ttl_ms: int,
    grace_ms: int,
    cooldown_ms: int,
    now_ms: int,
) -> int:
    """Create the pool of numbers that stand in for one target number of a site.

    A target has at most one pool (:class:`NumberError` otherwise). Timings are taken as
    given (tests use very short ones); input from people goes through :func:`check_timings`
    first (see :func:`pool.admin.new_pool`).
    """
    target = await tx.fetchone(
        "SELECT t.id, (SELECT p.id FROM pools p WHERE p.target_id = t.id) AS pool_id"
        " FROM targets t WHERE t.id = :t AND t.site_id = :s",
        {"t": target_id, "s": site_id},
    )
    if target is None:
        raise NumberError(f"target {target_id} is not a target of site {site_id}", field="target")
    if target["pool_id"] is not None:
        raise NumberError(f"that target already has pool {target['pool_id']}", field="target")
    pool_id: int = await tx.fetchval(
        "INSERT INTO pools (site_id, target_id, name, ttl_ms, grace_ms, cooldown_ms, created_ms)"
        " VALUES (:s, :t, :n, :ttl, :g, :c, :now) RETURNING id",
        {
            "s": site_id,
            "t": target_id,
            "n": name[:200],
            "ttl": ttl_ms,
            "g": grace_ms,
            "c": cooldown_ms,
            "now": now_ms,
        },
    )
    return pool_id


async def add_number(
    tx: Tx,
    *,
    advertiser_id: int,
    number: str,
    forward_to: str,
    kind: str = "pool",
    site_id: int | None = None,
    pool_id: int | None = None,
    source_label: str = "",
    now_ms: int,
) -> int:
    """Add one tracking number (already E.164 and checked) and return its id.

    Use :func:`pool.inventory.add_numbers` for input from people: it validates first.
    """
    if kind not in KINDS:
        raise NumberError(f"unknown kind {kind!r}", field="kind")
    shown = formats(number)
    number_id: int = await tx.fetchval(
        "INSERT INTO tracking_numbers (advertiser_id, number, kind, forward_to, site_id,"
        " pool_id, source_label, created_ms, national, international)"
        " VALUES (:a, :num, :k, :f, :s, :p, :src, :now, :nat, :intl) RETURNING id",
        {
            "a": advertiser_id,
            "num": number,
            "nat": shown.national,
            "intl": shown.international,
            "k": kind,
            "f": forward_to,
            "s": site_id,
            "p": pool_id,
            "src": source_label,
            "now": now_ms,
        },
    )
    if kind == "overflow" and pool_id is not None:
        await tx.execute(
            "UPDATE pools SET overflow_number_id = :n WHERE id = :p", {"n": number_id, "p": pool_id}
        )
    return number_id


async def retire_number(db: Store, *, number_id: int, now_ms: int) -> str:
    """Stop handing out a number; return its new status.

    With a live lease the number becomes 'retiring' and turns 'retired' when that lease
    ends (the session that holds it is not cut off); otherwise it is 'retired' at once.
    A retired overflow number stops being its pool's overflow number.
    """
    # On PostgreSQL the number's row is locked first: a claim that picked the number (it
    # holds that row) commits its lease before the live leases are counted, and a claim
    # that comes after skips the row until the new status is committed. Without it a
    # claim committing between the count and the update left 'retired' with a live lease.
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    async with db.write() as tx:
        row = await fetch_found(
            tx,
            "SELECT status FROM tracking_numbers WHERE id = :n" + lock,
            {"n": number_id},
            f"no tracking number {number_id}",
        )
        if row["status"] == "retired":
            return "retired"
        live = await tx.fetchval(
            "SELECT COUNT(*) FROM leases WHERE number_id = :n AND ended_ms IS NULL"
            " AND expires_ms > :now",
            {"n": number_id, "now": now_ms},
        )
        await tx.execute(
            "UPDATE pools SET overflow_number_id = NULL WHERE overflow_number_id = :n",
            {"n": number_id},
        )
        if live:
            await tx.execute(
                "UPDATE tracking_numbers SET status = 'retiring' WHERE id = :n", {"n": number_id}
            )
            return "retiring"
        # Leases past their ttl but not yet stamped end now, at their expiry.
        await tx.execute(
            "UPDATE leases SET ended_ms = expires_ms WHERE number_id = :n AND ended_ms IS NULL",
            {"n": number_id},
        )
        await tx.execute(
            "UPDATE tracking_numbers SET status = 'retired', retired_ms = :now WHERE id = :n",
            {"n": number_id, "now": now_ms},
        )
        return "retired"
