"""Passwords and API tokens.

Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``); API tokens are random strings
of which only a SHA-256 digest is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from backend.errors import ApiError
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


@dataclass(frozen=True)
class ApiPrincipal:
    """Who an API request acts as."""

    token_id: int
    user_id: int
    advertiser_id: int | None  # None: every advertiser (an administrator's token)
    can_see_callers: bool


async def require_token(request: Request) -> ApiPrincipal:
    """The principal of a ``Authorization: Bearer`` request, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise ApiError(401, "unauthorized", "A bearer token is required.")
    db: Store = request.app.state.db
    row = await db.fetchone(
        "SELECT t.id, t.user_id, t.advertiser_id, t.can_see_callers, u.role"
        " FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = :h AND t.revoked_ms IS NULL",
        {"h": token_digest(token.strip())},
    )
    if row is None:
        raise ApiError(401, "unauthorized", "The token is unknown or revoked.")
    return ApiPrincipal(
        row["id"], row["user_id"], row["advertiser_id"], bool(row["can_see_callers"])
    )


async def touch_token(db: Store, token_id: int) -> None:
    """Record when a token was last used."""
    await db.execute(
        "UPDATE api_tokens SET last_used_ms = :t WHERE id = :id", {"t": now_ms(), "id": token_id}
    )
