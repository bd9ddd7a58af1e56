"""Login, logout, the language switch and the viewer's own account."""

from __future__ import annotations

import math
import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend.auth import hash_password
from backend.dashboard import i18n
from backend.dashboard.forms import FormError
from backend.dashboard.i18n import N_
from backend.dashboard.logins import (
    COOKIE,
    LOGIN_COOKIE,
    SESSION_SECONDS,
    Viewer,
    check_password,
    end_session,
    end_user_sessions,
    login_csrf,
    password_matches,
    start_session,
    viewer_for,
)
from backend.dashboard.throttle import LoginThrottle
from backend.dashboard.web import (
    check_csrf,
    db_of,
    error_page,
    needs_setup,
    page,
    read_form,
    redirect,
    render,
    secure,
)
from backend.http import client_ip
from backend.services import services
from pool.store import now_ms


def _safe_next(target: str | None) -> str:
    # Only our own dashboard paths: never an open redirect to another host.
    if target and target.startswith("/dashboard") and "//" not in target and "\\" not in target:
        return target[:500]
    return "/dashboard"


def _cookie_flags(request: Request) -> dict[str, object]:
    return {"httponly": True, "samesite": "lax", "secure": request.url.scheme == "https"}


def _throttle(request: Request) -> LoginThrottle:
    """The app's sign-in throttle (built with the app, :mod:`backend.services`)."""
    return services(request).login_throttle


def pre_login_form(
    request: Request, template: str, context: dict[str, object], *, status: int, retry: int
) -> Response:
    """A form shown before anyone is signed in (sign-in, first-run set-up).

    It carries a CSRF token bound to a nonce cookie of its own (there is no login session
    to bind it to yet) and, when the address must wait (``retry`` seconds), says so.
    """
    secret = request.app.state.settings.secret_key
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(16)
    context = {**context, "csrf": login_csrf(secret, nonce), "retry_minutes": math.ceil(retry / 60)}
    response = render(request, None, template, context, status=status)
    if retry:
        response.headers["Retry-After"] = str(retry)
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
    return response


async def read_pre_login_form(request: Request) -> dict[str, str]:
    """The fields of a :func:`pre_login_form` posted back, once its CSRF token checks out
    (:class:`HTTPException` otherwise)."""
    form = await read_form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    secret = request.app.state.settings.secret_key
    check_csrf(login_csrf(secret, nonce) if nonce else "", form.get("csrf", ""))
    return form


async def sign_in(request: Request, user_id: int, to: str) -> Response:
    """Start a login session for the user and go to ``to``; the pre-login nonce is spent."""
    cookie = await start_session(db_of(request), request.app.state.settings.secret_key, user_id)
    response = redirect(to)
    response.set_cookie(COOKIE, cookie, max_age=SESSION_SECONDS, **_cookie_flags(request))  # type: ignore[arg-type]
    response.delete_cookie(LOGIN_COOKIE)
    return response


async def _login_form(
    request: Request, failed: bool = False, status: int = 200, retry_after: int = 0
) -> Response:
    context = {"next": _safe_next(request.query_params.get("next")), "failed": failed}
    return pre_login_form(request, "login.html", context, status=status, retry=retry_after)


async def login(request: Request) -> Response:
    """GET: the sign-in form. POST: check the password and start a login session."""
    db = db_of(request)
    if request.method == "GET":
        lang = request.query_params.get("lang")
        response = await _login_form(request)
        if await needs_setup(request):
            response = redirect("/setup")  # nobody can sign in yet: create the first user
        if lang in i18n.LANGUAGES:
            response = redirect("/login")
            response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
        return response
    try:
        form = await read_pre_login_form(request)
    except HTTPException as exc:
        return error_page(request, None, exc.status_code, str(exc.detail))
    email = form.get("email", "")[:320]
    password = form.get("password", "")[:1024]
    throttle, address, now = _throttle(request), client_ip(request), now_ms()
    # Refused before the password is looked at: a guess costs scrypt, a refusal nothing.
    wait = throttle.attempt(address, email, now)
    if wait:
        return await _login_form(request, status=429, retry_after=wait)
    user_id = await check_password(db, email, password) if email and password else None
    if user_id is None:
        return await _login_form(request, failed=True, status=401)
    throttle.succeeded(address, email, now)
    return await sign_in(request, user_id, _safe_next(form.get("next")))


async def logout(request: Request) -> Response:
    """GET: a confirmation button. POST (with the CSRF token): end the login session."""
    settings = request.app.state.settings
    db = db_of(request)
    viewer = await viewer_for(db, settings.secret_key, request.cookies.get(COOKIE, ""))
    if viewer is None:
        return redirect("/login")
    if request.method == "GET":
        return render(request, viewer, "logout.html", {})
    try:
        form = await read_form(request)
        check_csrf(viewer.csrf, form.get("csrf", ""))
    except HTTPException as exc:
        return error_page(request, viewer, exc.status_code, str(exc.detail))
    await end_session(db, viewer.session_id)
    response = redirect("/login")
    response.delete_cookie(COOKIE)
    return secure(response)


@page()
async def switch_language(request: Request, viewer: Viewer) -> Response:
    """Change the viewer's language (stored on the user and in a cookie)."""
    lang = request.state.form.get("lang", "")
    if lang not in i18n.LANGUAGES:
        raise HTTPException(422, "Unknown language.")
    await db_of(request).execute(
        "UPDATE users SET locale = :l WHERE id = :u", {"l": lang, "u": viewer.user_id}
    )
    response = redirect(_safe_next(request.state.form.get("next")))
    response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


@page()
async def account(request: Request, viewer: Viewer) -> Response:
    """The viewer's language preference and password.

    A new password is taken only with the current one (a borrowed or stolen session must
    not be able to lock its owner out), and signs out every other session of the user.
    """
    db = db_of(request)
    if request.method == "POST":
        form = request.state.form
        lang = form.get("locale", "")
        if lang not in ("", *i18n.LANGUAGES):
            raise HTTPException(422, "Unknown language.")
        password = form.get("password", "")
        if password:
            if len(password) < 8 or len(password) > 1024:
                raise FormError("password", N_("form.password_length"))
            # Guesses of the current password count against the same limits as sign-ins.
            throttle, address, now = _throttle(request), client_ip(request), now_ms()
            wait = throttle.attempt(address, viewer.email, now)
            if wait:
                raise HTTPException(
                    429,
                    f"Too many wrong passwords: try again in {math.ceil(wait / 60)} min.",
                    headers={"Retry-After": str(wait)},
                )
            current = form.get("current_password", "")
            if not await password_matches(db, viewer.user_id, current):
                raise FormError("current_password", N_("form.wrong_password"), status=403)
            throttle.succeeded(address, viewer.email, now)
        await db.execute(
            "UPDATE users SET locale = :l WHERE id = :u", {"l": lang, "u": viewer.user_id}
        )
        target = "/dashboard/account?saved=1"
        if password:
            await db.execute(
                "UPDATE users SET password_hash = :h WHERE id = :u",
                {"h": hash_password(password), "u": viewer.user_id},
            )
            await end_user_sessions(db, viewer.user_id, keep=viewer.session_id)
            target = "/dashboard/account?password=changed"
        response = redirect(target)
        if lang:
            response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
        else:
            response.delete_cookie(i18n.LANG_COOKIE)
        return response
    return render(
        request,
        viewer,
        "account.html",
        {
            "saved": request.query_params.get("saved") == "1",
            "password_changed": request.query_params.get("password") == "changed",
        },
    )
