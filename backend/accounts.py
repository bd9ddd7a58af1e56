"""Advertisers, sites, target numbers and users: the configuration records."""

from __future__ import annotations

import orjson

from attribution import call_work
from backend.auth import hash_password, new_api_token
from pool.numbers import add_target as add_target  # one INSERT for targets, kept here too
from pool.store import Tx


async def create_advertiser(tx: Tx, name: str, now_ms: int) -> int:
    """A new advertiser, with the built-in call outcome list (won / open / lost)."""
    advertiser_id: int = await tx.fetchval(
        "INSERT INTO advertisers (name, created_ms) VALUES (:n, :t) RETURNING id",
        {"n": name, "t": now_ms},
    )
    await call_work.ensure_outcomes(tx, advertiser_id, now_ms)
    return advertiser_id


async def create_site(
    tx: Tx,
    *,
    advertiser_id: int,
    site_key: str,
    name: str,
    domains: list[str],
    country: str = "JP",
    timezone: str = "Asia/Tokyo",
    now_ms: int,
) -> int:
    """A new site: one snippet key and the hostnames allowed to use it."""
    site_id: int = await tx.fetchval(
        "INSERT INTO sites (advertiser_id, site_key, name, domains, country, timezone,"
        " created_ms) VALUES (:a, :k, :n, :d, :c, :tz, :t) RETURNING id",
        {
            "a": advertiser_id,
            "k": site_key,
            "n": name,
            "d": orjson.dumps(domains).decode(),
            "c": country,
            "tz": timezone,
            "t": now_ms,
        },
    )
    return site_id


async def create_user(
    tx: Tx,
    *,
    email: str,
    password: str,
    role: str = "member",
    advertiser_id: int | None = None,
    now_ms: int,
) -> int:
    """A dashboard user; ``role`` is 'admin' (every advertiser) or 'member' (one)."""
    if role not in {"admin", "member"}:
        raise ValueError(f"unknown role {role!r}")
    if role == "member" and advertiser_id is None:
        raise ValueError("a member belongs to one advertiser")
    user_id: int = await tx.fetchval(
        "INSERT INTO users (email, password_hash, role, advertiser_id, can_see_callers,"
        " created_ms) VALUES (:e, :h, :r, :a, :c, :t) RETURNING id",
        {
            "e": email.lower(),
            "h": hash_password(password),
            "r": role,
            "a": advertiser_id,
            "c": int(role == "admin"),
            "t": now_ms,
        },
    )
    return user_id


async def create_api_token(
    tx: Tx,
    *,
    user_id: int,
    advertiser_id: int | None,
    name: str,
    now_ms: int,
    can_see_callers: bool = False,
    read_only: bool = False,
    can_hear_recordings: bool = False,
) -> str:
    """A new API token for a user; the token is returned once and only its hash is kept.

    ``read_only``: the token may only read. Whatever it is given, each request gets no more
    than its user may do at that moment (:func:`backend.auth.require_token`).
    """
    token, digest = new_api_token()
    await tx.execute(
        "INSERT INTO api_tokens (user_id, advertiser_id, name, token_hash, can_see_callers,"
        " read_only, can_hear_recordings, created_ms) VALUES (:u, :a, :n, :h, :c, :r, :hear, :t)",
        {
            "u": user_id,
            "a": advertiser_id,
            "n": name,
            "h": digest,
            "c": int(can_see_callers),
            "r": int(read_only),
            "hear": int(can_hear_recordings),
            "t": now_ms,
        },
    )
    return token


async def set_password(tx: Tx, *, user_id: int, password: str, now_ms: int) -> None:
    """A new password (a reset): the user's open logins end, so they sign in with it."""
    await tx.execute(
        "UPDATE users SET password_hash = :h WHERE id = :u",
        {"h": hash_password(password), "u": user_id},
    )
    await tx.execute(
        "UPDATE web_sessions SET revoked_ms = :t WHERE user_id = :u AND revoked_ms IS NULL",
        {"t": now_ms, "u": user_id},
    )


async def set_disabled(tx: Tx, *, user_id: int, disabled: bool, now_ms: int) -> None:
    """Disable a user (signed out everywhere, API tokens revoked) or enable them again.

    Enabling gives back the sign-in only: revoked tokens stay revoked.
    """
    await tx.execute(
        "UPDATE users SET disabled_ms = CASE WHEN :off = 0 THEN NULL"
        " ELSE COALESCE(disabled_ms, :t) END WHERE id = :u",
        {"off": int(disabled), "t": now_ms, "u": user_id},
    )
    if disabled:
        for table in ("api_tokens", "web_sessions"):
            await tx.execute(
                f"UPDATE {table} SET revoked_ms = :t WHERE user_id = :u AND revoked_ms IS NULL",
                {"t": now_ms, "u": user_id},
            )


async def set_hears_recordings(tx: Tx, *, user_id: int, allowed: bool) -> None:
    """Give or take a user's right to hear and download call recordings (an administrator
    always has it; the user's tokens need their own flag as well)."""
    await tx.execute(
        "UPDATE users SET can_hear_recordings = :h WHERE id = :u",
        {"h": int(allowed), "u": user_id},
    )
