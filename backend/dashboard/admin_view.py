"""Users, API tokens and advertisers."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import accounts
from backend.auth import hash_password
from backend.dashboard import i18n, web
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import Viewer, end_user_sessions
from pool.store import now_ms

USERS = "/dashboard/settings/users"


def _user_fields(form: dict[str, str], page: str) -> dict[str, Any]:
    role = form.get("role", "member")
    if role not in {"admin", "member"}:
        raise HTTPException(422, "Unknown role.")
    advertiser_id = web.int_param(form.get("advertiser"), "advertiser")
    if role == "member" and advertiser_id is None:
        raise FormError("advertiser", N_("form.member_advertiser"), page=page)
    locale = form.get("locale", "")
    if locale not in ("", *i18n.LANGUAGES):
        raise HTTPException(422, "Unknown language.")
    return {
        "role": role,
        "advertiser_id": advertiser_id if role == "member" else None,
        "can_see_callers": int(form.get("can_see_callers") == "1"),
        # The right to hear and download recordings and read transcripts (issue #22); an
        # administrator has it whatever this says.
        "can_hear_recordings": int(form.get("can_hear_recordings") == "1"),
        "locale": locale,
    }


def _password(form: dict[str, str], required: bool, page: str) -> str:
    password = form.get("password", "")
    if not password and not required:
        return ""
    if len(password) < 8 or len(password) > 1024:
        raise FormError("password", N_("form.password_length"), page=page)
    return password


@web.page(admin=True)
async def users_page(request: Request, viewer: Viewer) -> Response:
    """Every user; POST creates one (administrators only)."""
    db = web.db_of(request)
    if request.method == "POST":
        form = request.state.form
        email = form.get("email", "").strip().lower()
        if not email or "@" not in email or len(email) > 320:
            raise FormError("email", N_("form.email_required"))
        fields = _user_fields(form, USERS)
        if fields["advertiser_id"] is not None:
            await web.owned(db, viewer, "advertisers", fields["advertiser_id"])
        if await db.fetchval("SELECT 1 FROM users WHERE email = :e", {"e": email}):
            raise FormError("email", N_("form.user_exists"), status=409)
        async with db.write() as tx:
            user_id = await accounts.create_user(
                tx,
                email=email,
                password=_password(form, required=True, page=USERS),
                role=fields["role"],
                advertiser_id=fields["advertiser_id"],
                now_ms=now_ms(),
            )
            await tx.execute(
                "UPDATE users SET can_see_callers = :c, can_hear_recordings = :h, locale = :l"
                " WHERE id = :u",
                {
                    "c": fields["can_see_callers"],
                    "h": fields["can_hear_recordings"],
                    "l": fields["locale"],
                    "u": user_id,
                },
            )
        return web.redirect("/dashboard/settings/users")
    users = await db.fetchall(
        "SELECT u.*, a.name AS advertiser FROM users u"
        " LEFT JOIN advertisers a ON a.id = u.advertiser_id ORDER BY u.email"
    )
    return web.render(
        request,
        viewer,
        "users.html",
        {"users": users, "advertisers": await web.visible_advertisers(db, viewer)},
    )


@web.page(admin=True)
async def user_update(request: Request, viewer: Viewer) -> Response:
    """Change a user's role, advertiser, caller visibility, right to hear recordings,
    language, password or whether the user is disabled.

    Setting another user's password here is an administrator's reset; one's own password is
    changed on the account page, which asks for the current one. A user who is disabled, or
    whose access is narrowed, is signed out everywhere; their API tokens are cut to what they
    may now do on every request (:func:`backend.auth.require_token`), and a disabled user's
    tokens are revoked.
    """
    db = web.db_of(request)
    user_id = web.path_id(request)
    if not await db.fetchval("SELECT 1 FROM users WHERE id = :u", {"u": user_id}):
        raise HTTPException(404, "Not found.")
    form = request.state.form
    fields = _user_fields(form, USERS)
    if fields["advertiser_id"] is not None and not await db.fetchval(
        "SELECT 1 FROM advertisers WHERE id = :a", {"a": fields["advertiser_id"]}
    ):
        raise HTTPException(422, "There is no such advertiser.")
    disabled = form.get("disabled") == "1"
    if user_id == viewer.user_id and fields["role"] != "admin":
        raise HTTPException(409, "You cannot remove your own administrator role.")
    if user_id == viewer.user_id and disabled:
        raise HTTPException(409, "You cannot disable yourself.")
    password = _password(form, required=False, page=USERS)
    if password and user_id == viewer.user_id:
        raise HTTPException(
            409, "Change your own password on your account page (it asks for the current one)."
        )
    now = now_ms()
    async with db.write() as tx:
        await tx.execute(
            "UPDATE users SET role = :role, advertiser_id = :advertiser_id,"
            " can_see_callers = :can_see_callers, can_hear_recordings = :can_hear_recordings,"
            " locale = :locale,"
            " disabled_ms = CASE WHEN :off = 0 THEN NULL ELSE COALESCE(disabled_ms, :now) END"
            " WHERE id = :id",
            {**fields, "id": user_id, "off": int(disabled), "now": now},
        )
        if password:
            await tx.execute(
                "UPDATE users SET password_hash = :h WHERE id = :u",
                {"h": hash_password(password), "u": user_id},
            )
        if disabled:
            await tx.execute(
                "UPDATE api_tokens SET revoked_ms = :t WHERE user_id = :u AND revoked_ms IS NULL",
                {"t": now, "u": user_id},
            )
    if password or disabled or fields["role"] != "admin":
        # Access was narrowed or the password changed: open logins must sign in again.
        await end_user_sessions(db, user_id)
    return web.redirect("/dashboard/settings/users")


@web.page()
async def tokens_page(request: Request, viewer: Viewer) -> Response:
    """API tokens in scope; POST creates one and shows it once."""
    db = web.db_of(request)
    new_token = None
    if request.method == "POST":
        form = request.state.form
        name = form.get("name", "").strip()
        if not name:
            raise FormError("name", N_("form.required"))
        if len(name) > 100:
            raise FormError("name", N_("form.too_long"), max=100)
        advertiser_id = viewer.advertiser_id
        if viewer.advertiser_id is None:
            advertiser_id = web.int_param(form.get("advertiser"), "advertiser")
            if advertiser_id is not None:
                await web.owned(db, viewer, "advertisers", advertiser_id)
        async with db.write() as tx:
            new_token = await accounts.create_api_token(
                tx,
                user_id=viewer.user_id,
                advertiser_id=advertiser_id,
                name=name,
                now_ms=now_ms(),
                can_see_callers=viewer.can_see_callers and form.get("can_see_callers") == "1",
                read_only=form.get("read_only") == "1",
            )
    where, params = viewer.scope.where_condition("t", site=None)
    tokens = await db.fetchall(
        "SELECT t.id, t.name, t.advertiser_id, t.can_see_callers, t.read_only, t.created_ms,"
        " t.revoked_ms,"
        " t.last_used_ms, u.email, a.name AS advertiser FROM api_tokens t"
        " JOIN users u ON u.id = t.user_id LEFT JOIN advertisers a ON a.id = t.advertiser_id"
        + where
        + " ORDER BY t.revoked_ms IS NOT NULL, t.created_ms DESC",
        params,
    )
    response = web.render(
        request,
        viewer,
        "tokens.html",
        {
            "tokens": tokens,
            "new_token": new_token,
            "advertisers": await web.visible_advertisers(db, viewer),
        },
    )
    return response


@web.page()
async def revoke_token(request: Request, viewer: Viewer) -> Response:
    """Revoke an API token at once."""
    db, token = await web.owned_at(request, viewer, "api_tokens")
    await db.execute(
        "UPDATE api_tokens SET revoked_ms = :t WHERE id = :id AND revoked_ms IS NULL",
        {"t": now_ms(), "id": token["id"]},
    )
    return web.redirect("/dashboard/settings/tokens")


@web.page(admin=True)
async def create_advertiser(request: Request, viewer: Viewer) -> Response:
    """A new advertiser (a portal operator's client)."""
    name = request.state.form.get("name", "").strip()
    if not name:
        raise FormError("name", N_("form.required"), page="/dashboard/advertisers")
    if len(name) > 200:
        raise FormError("name", N_("form.too_long"), page="/dashboard/advertisers", max=200)
    async with web.db_of(request).write() as tx:
        await accounts.create_advertiser(tx, name, now_ms())
    return web.redirect("/dashboard/advertisers")
