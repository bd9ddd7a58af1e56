"""The dashboard's request plumbing: who is asking, CSRF, rendering, security headers.

Every dashboard handler is wrapped by :func:`page`: it resolves the signed-in user (or sends
the browser to ``/login``), refuses a POST whose CSRF token does not match the login session,
renders errors as dashboard pages, and stamps the security headers on every response.
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from backend import setup_codes
from backend.assets import TEMPLATES_DIR
from backend.dashboard import charts, fmt, forms, i18n
from backend.dashboard.i18n import N_
from backend.dashboard.logins import COOKIE, Viewer, viewer_for
from backend.errors import ApiError, code_for, render_error
from backend.http import read_body
from backend.security_headers import SECURITY_HEADERS as SECURITY_HEADERS
from backend.security_headers import secure
from pool.store import Row, Store

MAX_FORM_BYTES = 65_536
# A CSV file sent from a dashboard form (pool.imports reads at most 2,000,000 bytes).
MAX_UPLOAD_BYTES = 2_100_000
MAX_FIELD_CHARS = 4_000
# Ids the stores can hold (BIGINT); a larger one in a URL is simply not found.
MAX_ID = 2**63 - 1

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(fmt=fmt, charts=charts, dimensions=i18n.DIMENSION_ORDER)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
templates.env.add_extension("jinja2.ext.i18n")


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translator(context.get("lang") or "en")(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.catalog(context.get("lang") or "en").ngettext(singular, plural, n)


# One environment serves requests in every language at once, so the i18n extension's
# gettext / ngettext / {% trans %} read the catalog of the render's own ``lang`` rather than
# one installed catalog. Templates mostly call ``t("id")`` (see render), which escapes the
# text like any other value.
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=_gettext, ngettext=_ngettext, newstyle=True
)

Handler = Callable[[Request, Viewer], Awaitable[Response]]


def db_of(request: Request) -> Store:
    """The app's database handle."""
    db: Store = request.app.state.db
    return db


async def needs_setup(request: Request) -> bool:
    """Whether no user exists yet (remembered once one does: users are never deleted)."""
    state = request.app.state
    if getattr(state, "has_users", False):
        return False
    db: Store = state.db
    if await setup_codes.users_exist(db):
        state.has_users = True
        return False
    return True


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> Response:
    """Render a dashboard template with the translator, viewer and CSRF token in scope."""
    lang = i18n.choose(request, viewer)
    tz = context.get("tz", "Asia/Tokyo")
    base = {
        "viewer": viewer,
        "lang": lang,
        "t": i18n.translator(lang),
        "label": lambda group, value: i18n.label(i18n.translator(lang), group, value),
        "actor": lambda text: i18n.actor(i18n.translator(lang), text),
        "csrf": viewer.csrf if viewer else context.get("csrf", ""),
        "path": request.url.path,
        "tz": tz,
    }
    return secure(
        templates.TemplateResponse(request, template, {**base, **context}, status_code=status)
    )


def error_page(
    request: Request,
    viewer: Viewer | None,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error as a dashboard page (same headers, same language), by the one renderer."""
    return render_error(request, status, code_for(status), message, viewer=viewer, headers=headers)


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body, bounded in size; repeated names keep the last value."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, MAX_FORM_BYTES)
    if ctype != "application/x-www-form-urlencoded" and (ctype or body):
        raise HTTPException(415, "Forms are sent as application/x-www-form-urlencoded.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "The form could not be read.") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if len(value) > MAX_FIELD_CHARS:
            raise HTTPException(422, f"Field {key[:40]!r} is too long.")
        form[key] = value
    return form


async def read_upload(
    request: Request, max_bytes: int = MAX_UPLOAD_BYTES
) -> tuple[dict[str, str], bytes]:
    """A ``multipart/form-data`` form with at most one file: its text fields and the file's
    bytes (empty when none was chosen), bounded like :func:`read_form` (the file by
    ``max_bytes``)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise HTTPException(415, "Files are sent as multipart/form-data.")
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise HTTPException(411, "The upload's length is required.")
    if int(declared) > max_bytes:
        raise HTTPException(413, f"The upload is larger than {max_bytes} bytes.")
    try:
        data = await request.form(max_files=1, max_fields=20, max_part_size=max_bytes)
    except Exception as exc:  # python-multipart's and Starlette's parse errors
        raise HTTPException(400, "The upload could not be read.") from exc
    fields: dict[str, str] = {}
    content = b""
    for key, value in data.multi_items():
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS:
                raise HTTPException(422, f"Field {key[:40]!r} is too long.")
            fields[key] = value
        else:
            content = await value.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise HTTPException(413, f"The file is larger than {max_bytes} bytes.")
    await data.close()
    return fields, content


def check_csrf(expected: str, given: str) -> None:
    """Refuse a form whose CSRF token is missing or wrong (403)."""
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise HTTPException(403, "The form's security token is missing or out of date.")


def page(
    *, admin: bool = False, upload: bool = False, max_upload: int = MAX_UPLOAD_BYTES
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler ``(request, viewer)``: login, CSRF on POST, errors, headers.

    A POST handler finds its checked form in ``request.state.form``; with ``upload`` the
    form is multipart and the file's bytes (at most ``max_upload``) are in
    ``request.state.file``.
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            settings = request.app.state.settings
            viewer = await viewer_for(
                db_of(request), settings.secret_key, request.cookies.get(COOKIE, "")
            )
            if viewer is None:
                if request.method != "GET":
                    return error_page(request, None, 401, "Please sign in again.")
                if await needs_setup(request):
                    # A fresh install: the first administrator is created on the set-up page.
                    return secure(RedirectResponse("/setup", status_code=303))
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                return secure(RedirectResponse("/login?next=" + quote(target), status_code=303))
            try:
                if admin and not viewer.is_admin:
                    raise HTTPException(403, "Only administrators may open this page.")
                if request.method == "POST":
                    if upload:
                        form, request.state.file = await read_upload(request, max_upload)
                    else:
                        form = await read_form(request)
                    check_csrf(viewer.csrf, form.get("csrf", ""))
                    request.state.form = form
                response = await handler(request, viewer)
            except forms.FormError as exc:
                # The form's page again, the values typed kept and the reason by the field.
                lang = i18n.choose(request, viewer)
                again = await forms.again(request, lang, exc)
                if again is None:
                    return error_page(request, viewer, exc.status, exc.message(lang))
                return secure(again)
            except HTTPException as exc:
                # exc.headers: e.g. a 429's Retry-After
                return error_page(request, viewer, exc.status_code, str(exc.detail), exc.headers)
            except ApiError as exc:
                return error_page(request, viewer, exc.status, exc.message)
            return secure(response)

        return endpoint

    return wrap


def redirect(url: str) -> Response:
    """A See Other redirect (after a POST)."""
    return secure(RedirectResponse(url, status_code=303))


def int_param(value: str | None, name: str) -> int | None:
    """An optional positive integer query/form parameter (400 when malformed)."""
    if value is None or value == "":
        return None
    # ASCII digits only: str.isdigit() also takes '²' or '١', which int() refuses.
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise HTTPException(400, f"{name} must be a positive whole number.")
    return int(value)


def path_id(request: Request, name: str = "id") -> int:
    """An integer path parameter."""
    value = request.path_params.get(name)
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise HTTPException(404, "Not found.")
    return value


# Tables a dashboard URL may name by id, and how to find the advertiser each row belongs to.
_OWNER_SQL = {
    "sites": "SELECT advertiser_id AS adv, * FROM sites WHERE id = :id",
    "tracking_numbers": "SELECT advertiser_id AS adv, * FROM tracking_numbers WHERE id = :id",
    # A call: its advertiser's, and its site owner's (a portal sees every call on its site).
    "calls": "SELECT advertiser_id AS adv, (SELECT st.advertiser_id FROM sites st"
    " WHERE st.id = calls.site_id) AS site_adv, * FROM calls WHERE id = :id",
    "pools": "SELECT s.advertiser_id AS adv, p.* FROM pools p JOIN sites s ON s.id = p.site_id"
    " WHERE p.id = :id",
    "targets": "SELECT s.advertiser_id AS adv, t.* FROM targets t"
    " JOIN sites s ON s.id = t.site_id WHERE t.id = :id",
    "api_tokens": "SELECT advertiser_id AS adv, * FROM api_tokens WHERE id = :id",
    "advertisers": "SELECT id AS adv, * FROM advertisers WHERE id = :id",
    "source_rules": "SELECT s.advertiser_id AS adv, r.* FROM source_rules r"
    " JOIN sites s ON s.id = r.site_id WHERE r.id = :id",
    "blocked_callers": "SELECT advertiser_id AS adv, * FROM blocked_callers WHERE id = :id",
    "notification_targets": "SELECT advertiser_id AS adv, * FROM notification_targets"
    " WHERE id = :id",
}


async def owned(db: Store, viewer: Viewer, table: str, row_id: int) -> Row:
    """The row ``row_id`` of ``table`` if the viewer may see it, else 404.

    404 rather than 403: a member must not learn which ids exist at other advertisers.
    """
    row = await db.fetchone(_OWNER_SQL[table], {"id": row_id})
    if row is None:
        raise HTTPException(404, "Not found.")
    if table == "calls":
        allowed = viewer.scope.allows_call(row["adv"], row["site_adv"], row["site_id"])
    else:
        allowed = viewer.scope.allows(row["adv"])
    if not allowed:
        raise HTTPException(404, "Not found.")
    return row


async def owned_at(request: Request, viewer: Viewer, table: str) -> tuple[Store, Row]:
    """The request's store and the row of ``table`` that the path's ``{id}`` names, if the
    viewer may see it (else 404): how a page about one row starts."""
    db = db_of(request)
    return db, await owned(db, viewer, table, path_id(request))


async def advertiser_for_new(db: Store, viewer: Viewer, form: Mapping[str, str]) -> int:
    """The advertiser a new record belongs to: the member's own, or the one an admin chose
    (which must be one the admin may see: 404 otherwise)."""
    if viewer.advertiser_id is not None:
        return viewer.advertiser_id
    chosen = int_param(form.get("advertiser"), "advertiser")
    if chosen is None:
        raise forms.FormError("advertiser", N_("form.choose_advertiser"))
    await owned(db, viewer, "advertisers", chosen)
    return chosen


async def posted_for_advertiser(
    request: Request, viewer: Viewer
) -> tuple[dict[str, str], int] | None:
    """On the POST of a page that lists records and adds one: the form and the advertiser
    the new record belongs to (:func:`advertiser_for_new`). None on a GET."""
    if request.method != "POST":
        return None
    form = request.state.form
    return form, await advertiser_for_new(db_of(request), viewer, form)


async def visible_sites(db: Store, viewer: Viewer) -> list[Row]:
    """The sites the viewer may see, by name."""
    where, params = viewer.scope.where_condition("s", site="id")
    return await db.fetchall(
        "SELECT s.*, a.name AS advertiser FROM sites s"
        f" JOIN advertisers a ON a.id = s.advertiser_id{where} ORDER BY a.name, s.name, s.id",
        params,
    )


async def visible_advertisers(db: Store, viewer: Viewer) -> list[Row]:
    """The advertisers the viewer may see, by name."""
    where, params = viewer.scope.where_condition(advertiser="id", site=None)
    return await db.fetchall(f"SELECT * FROM advertisers{where} ORDER BY name, id", params)
