"""Dashboard logins: password check, login sessions stored by hash, the signed cookie.

The cookie holds a random token signed with itsdangerous (so tampering is refused before any
database look-up); the database keeps only the token's SHA-256, the session's CSRF secret and
its expiry. Logout revokes the row, so a copied cookie stops working at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from backend.auth import hash_password, verify_password
from pool.scope import Scope, scope_of
from pool.store import Store, now_ms

COOKIE = "cp_session"
LOGIN_COOKIE = "cp_login"
SESSION_SECONDS = 12 * 3600
# Checked when the address is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(12))


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request."""

    user_id: int
    email: str
    role: str
    advertiser_id: int | None  # None for an administrator: every advertiser
    can_see_callers: bool
    locale: str
    csrf: str
    session_id: int
    # May hear and download call recordings (issue #22): an administrator always may, a
    # member once given the right (``callpath users allow-recordings``).
    can_hear_recordings: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def scope(self) -> Scope:
        """The advertisers and sites the viewer may read (:mod:`pool.scope`)."""
        return scope_of(self.advertiser_id)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="callpath.dashboard.session")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def check_password(db: Store, email: str, password: str) -> int | None:
    """The id of the user with this e-mail and password, or None.

    The scrypt check (tens of milliseconds of CPU) runs on a worker thread, where it does
    not hold the GIL: the event loop keeps answering webhooks and visits meanwhile. An
    unknown e-mail costs the same check, so timing does not tell which e-mails exist.
    """
    row = await db.fetchone(
        "SELECT id, password_hash, disabled_ms FROM users WHERE email = :e",
        {"e": email.strip().lower()},
    )
    stored = _DUMMY_HASH if row is None else row["password_hash"]
    matches = await asyncio.to_thread(verify_password, password, stored)
    # A disabled user is refused like a wrong password, after the same scrypt check.
    if row is None or not matches or row["disabled_ms"] is not None:
        return None
    return int(row["id"])


async def password_matches(db: Store, user_id: int, password: str) -> bool:
    """Whether ``password`` is the user's current password (scrypt on a worker thread)."""
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = :u", {"u": user_id})
    if stored is None or not password:
        return False
    return await asyncio.to_thread(verify_password, password[:1024], stored)


async def start_session(db: Store, secret: str, user_id: int) -> str:
    """Record a new login and return the cookie value for it."""
    token = secrets.token_urlsafe(32)
    now = now_ms()
    await db.execute(
        "INSERT INTO web_sessions (user_id, token_hash, csrf, created_ms, expires_ms)"
        " VALUES (:u, :h, :c, :t, :e)",
        {
            "u": user_id,
            "h": _digest(token),
            "c": secrets.token_urlsafe(24),
            "t": now,
            "e": now + SESSION_SECONDS * 1000,
        },
    )
    return _serializer(secret).dumps(token)


def _token(secret: str, cookie: str) -> str | None:
    if not cookie or len(cookie) > 300:
        return None
    try:
        token = _serializer(secret).loads(cookie, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


async def viewer_for(db: Store, secret: str, cookie: str) -> Viewer | None:
    """The user a session cookie belongs to, if the session is live."""
    token = _token(secret, cookie)
    if token is None:
        return None
    row = await db.fetchone(
        "SELECT w.id AS wid, w.csrf, u.id, u.email, u.role, u.advertiser_id,"
        " u.can_see_callers, u.can_hear_recordings, u.locale"
        " FROM web_sessions w JOIN users u ON u.id = w.user_id"
        " WHERE w.token_hash = :h AND w.revoked_ms IS NULL AND w.expires_ms > :now"
        " AND u.disabled_ms IS NULL",
        {"h": _digest(token), "now": now_ms()},
    )
    if row is None:
        return None
    return Viewer(
        user_id=int(row["id"]),
        email=row["email"],
        role=row["role"],
        advertiser_id=None if row["role"] == "admin" else row["advertiser_id"],
        can_see_callers=bool(row["can_see_callers"]),
        locale=row["locale"] or "",
        csrf=row["csrf"],
        session_id=int(row["wid"]),
        can_hear_recordings=row["role"] == "admin" or bool(row["can_hear_recordings"]),
    )


async def end_session(db: Store, session_id: int) -> None:
    """Revoke one login (logout)."""
    await db.execute(
        "UPDATE web_sessions SET revoked_ms = :t WHERE id = :id AND revoked_ms IS NULL",
        {"t": now_ms(), "id": session_id},
    )


async def end_user_sessions(db: Store, user_id: int, *, keep: int | None = None) -> None:
    """Revoke every login of a user (password changed, access removed), but ``keep``."""
    await db.execute(
        "UPDATE web_sessions SET revoked_ms = :t WHERE user_id = :u AND revoked_ms IS NULL"
        " AND id <> :keep",
        {"t": now_ms(), "u": user_id, "keep": keep or 0},
    )


def login_csrf(secret: str, nonce: str) -> str:
    """The CSRF token of the login form, bound to the browser's ``cp_login`` nonce."""
    return hmac.new(secret.encode(), b"login|" + nonce.encode(), hashlib.sha256).hexdigest()
