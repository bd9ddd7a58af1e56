"""Passwords and API tokens.

Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``); API tokens are random strings
of which only a SHA-256 digest is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from backend.errors import ApiError
from backend.services import services
from pool.scope import Scope, scope_of
from pool.store import Store, now_ms

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.urlsafe_b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + (
        f"{b64(salt).decode()}${b64(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    b64d = base64.urlsafe_b64decode
    expected = b64d(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=b64d(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


def new_api_token() -> tuple[str, str]:
    """A fresh token and the digest to store for it."""
    token = "cp_" + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


# Methods a read-only token may use; every other one is a write.
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class ApiPrincipal:
    """Who an API request acts as: what the token was given, cut to what its user may do now."""

    token_id: int
    user_id: int
    advertiser_id: int | None  # None: every advertiser (an administrator's unscoped token)
    can_see_callers: bool
    read_only: bool = False
    # May hear and download call recordings (issue #22): the token's own flag, and its user's
    # (an administrator always may).
    can_hear_recordings: bool = False

    @property
    def is_admin(self) -> bool:
        """Whether the request may do what only administrators may (every advertiser)."""
        return self.advertiser_id is None

    @property
    def scope(self) -> Scope:
        """The advertisers and sites the request may read (:mod:`pool.scope`)."""
        return scope_of(self.advertiser_id)


def effective_scope(token: Mapping[str, Any], user: Mapping[str, Any]) -> tuple[bool, int | None]:
    """The advertiser a token reaches today: ``(allowed, advertiser_id)``.

    A token keeps no power its user has lost: an administrator's token reaches what it was
    given; a member's token reaches the member's one advertiser, and nothing when it was made
    for another one (the user moved) or the user has none.
    """
    if user["role"] == "admin":
        return True, token["advertiser_id"]
    own = user["advertiser_id"]
    if own is None or token["advertiser_id"] not in (None, own):
        return False, None
    return True, int(own)


async def require_token(request: Request) -> ApiPrincipal:
    """The principal of a ``Authorization: Bearer`` request, or 401 / 403.

    Checked on every request against the user's row as it is now: a disabled user's tokens
    are refused (401); a token whose user moved to another advertiser reaches nothing (403);
    a member's token never reaches beyond the member's advertiser, and sees caller numbers
    only while both the token and the user may. A read-only token may only read (403 on any
    other method). An accepted token has its last use recorded.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise ApiError(401, "unauthorized", "A bearer token is required.")
    db: Store = request.app.state.db
    row = await db.fetchone(
        "SELECT t.id, t.user_id, t.advertiser_id, t.can_see_callers, t.read_only,"
        " t.can_hear_recordings, u.can_hear_recordings AS user_hears,"
        " u.role, u.advertiser_id AS user_advertiser_id, u.can_see_callers AS user_sees,"
        " u.disabled_ms FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = :h AND t.revoked_ms IS NULL",
        {"h": token_digest(token.strip())},
    )
    if row is None or row["disabled_ms"] is not None:
        raise ApiError(401, "unauthorized", "The token is unknown or revoked.")
    allowed, advertiser_id = effective_scope(
        row, {"role": row["role"], "advertiser_id": row["user_advertiser_id"]}
    )
    if not allowed:
        raise ApiError(403, "forbidden", "The token's user no longer has access to its scope.")
    read_only = bool(row["read_only"])
    if read_only and request.method not in READ_METHODS:
        raise ApiError(403, "forbidden", "This token is read-only.")
    # Here, not in each API style's wrapper, so every route a token reaches records its use.
    await _touch(request, db, row["id"])
    return ApiPrincipal(
        row["id"],
        row["user_id"],
        advertiser_id,
        bool(row["can_see_callers"]) and bool(row["user_sees"]),
        read_only,
        bool(row["can_hear_recordings"]) and (row["role"] == "admin" or bool(row["user_hears"])),
    )


_TOUCH_EVERY_MS = 60_000


async def _touch(request: Request, db: Store, token_id: int) -> None:
    # last_used_ms at most once a minute per token and process: a write per request would
    # make every API read queue behind the single writer.
    seen = services(request).token_touched
    now = now_ms()
    if now - seen.get(token_id, 0) >= _TOUCH_EVERY_MS:
        seen[token_id] = now
        await touch_token(db, token_id)


async def touch_token(db: Store, token_id: int) -> None:
    """Record when a token was last used."""
    await db.execute(
        "UPDATE api_tokens SET last_used_ms = :t WHERE id = :id", {"t": now_ms(), "id": token_id}
    )
