"""Tracking-number inventory: parsing to E.164, adding numbers, creating pools."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from pool.store import Tx


class NumberError(ValueError):
    """A phone number that cannot be used, with the reason in words."""


def to_e164(text: str, region: str = "JP") -> str:
    """Parse ``text`` (national or international) and return it in E.164.

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
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Formats:
    """How a number is written: E.164, national and international."""

    e164: str
    national: str
    international: str


def formats(e164: str) -> Formats:
    """The national and international ways to write an E.164 number."""
    parsed = phonenumbers.parse(e164)
    return Formats(
        e164,
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    )


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
    """Create the pool of numbers that stand in for one target number of a site."""
    pool_id: int = await tx.fetchval(
        "INSERT INTO pools (site_id, target_id, name, ttl_ms, grace_ms, cooldown_ms, created_ms)"
        " VALUES (:s, :t, :n, :ttl, :g, :c, :now) RETURNING id",
        {
            "s": site_id,
            "t": target_id,
            "n": name,
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
    """Add one tracking number (already E.164) and return its id."""
    if kind not in {"pool", "source", "overflow"}:
        raise NumberError(f"unknown kind {kind!r}")
    number_id: int = await tx.fetchval(
        "INSERT INTO tracking_numbers (advertiser_id, number, kind, forward_to, site_id,"
        " pool_id, source_label, created_ms) VALUES (:a, :num, :k, :f, :s, :p, :src, :now)"
        " RETURNING id",
        {
            "a": advertiser_id,
            "num": number,
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
