"""First run: the one-time set-up page that creates the first administrator.

While no user exists, ``/``, ``/login`` and every dashboard page lead here. The page asks
for the code ``callpath serve`` printed at start (:mod:`backend.setup_codes`), an e-mail and
a password; attempts are limited per address like sign-ins, and the form carries the same
CSRF token as the sign-in form. Once a user exists the page is a 404.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import accounts, setup_codes
from backend.dashboard.auth_view import _throttle, pre_login_form, read_pre_login_form, sign_in
from backend.dashboard.i18n import N_
from backend.dashboard.web import (
    db_of,
    error_page,
    needs_setup,
)
from backend.http import client_ip
from pool.store import now_ms


def _form(
    request: Request, *, error: str = "", email: str = "", status: int = 200, retry: int = 0
) -> Response:
    context: dict[str, object] = {"error": error, "email": email}
    return pre_login_form(request, "setup.html", context, status=status, retry=retry)


async def setup(request: Request) -> Response:
    """GET: the set-up form. POST: check the code, create the administrator, sign in."""
    if not await needs_setup(request):
        return error_page(request, None, 404, "Not found.")
    if request.method == "GET":
        return _form(request)
    db = db_of(request)
    try:
        form = await read_pre_login_form(request)
    except HTTPException as exc:
        return error_page(request, None, exc.status_code, str(exc.detail))
    email = form.get("email", "").strip().lower()[:320]
    password = form.get("password", "")
    if not email or "@" not in email:
        return _form(request, error=N_("setup.bad_email"), email=email, status=422)
    if not 8 <= len(password) <= 1024:
        return _form(request, error=N_("setup.bad_password"), email=email, status=422)
    # Limited per address like sign-ins: each try is counted before the code is compared.
    throttle, address, now = _throttle(request), client_ip(request), now_ms()
    wait = throttle.attempt(address, "setup:" + address, now)
    if wait:
        return _form(request, email=email, status=429, retry=wait)
    async with db.write() as tx:
        if await setup_codes.users_exist(tx):
            user_id = None
            taken = True
        else:
            taken = False
            user_id = None
            if await setup_codes.spend(tx, form.get("code", "")[:64], now):
                user_id = await accounts.create_user(
                    tx, email=email, password=password, role="admin", now_ms=now
                )
                # Every other code (other instances', earlier starts') has no use left.
                await tx.execute("DELETE FROM setup_codes WHERE used_ms IS NULL")
    if taken:
        return error_page(request, None, 404, "Not found.")
    if user_id is None:
        return _form(request, error=N_("setup.bad_code"), email=email, status=403)
    throttle.succeeded(address, "setup:" + address, now)
    request.app.state.has_users = True
    return await sign_in(request, user_id, "/dashboard")
