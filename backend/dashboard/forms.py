"""A refused dashboard form comes back as its page, in the user's language, with what was
typed kept and the reason next to the field.

A form handler raises :class:`FormError` (field, message id, the values the message names);
:func:`again` renders the page that holds the form (the same GET any browser would make),
finds the submitted form on it by its ``action`` and fills it with FormEncode's ``htmlfill``
(values back into inputs, selects and text areas; the message after the field). Templates
need nothing for this: every form is handled the same way.
"""

from __future__ import annotations

import re
from typing import Any

from formencode import htmlfill
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import Response

from backend.dashboard import i18n

# Fields a refused form never gets back: secrets are typed again, the CSRF token is the page's.
_NOT_KEPT = frozenset({"csrf", "password", "current_password", "new_password", "secret", "code"})


class FormError(Exception):
    """A form value the dashboard refuses: which field, why (a message id), and with what.

    ``page``: the address of the page holding the form (default: the address posted to).
    ``text``: words to show as they are, for a reason only the domain can word.
    """

    def __init__(
        self,
        field: str,
        msgid: str,
        *,
        status: int = 422,
        page: str | None = None,
        text: str = "",
        **params: Any,
    ) -> None:
        super().__init__(f"{field}: {msgid}")
        self.field = field
        self.msgid = msgid
        self.status = status
        self.page = page
        self.text = text
        self.params = params

    def message(self, lang: str) -> str:
        """The reason in ``lang``."""
        words = i18n.translator(lang)(self.msgid)
        try:
            words = words.format(**self.params)
        except (KeyError, IndexError, ValueError):
            pass  # a translation naming a value it is not given still reads
        return f"{words} {self.text}".strip()


async def _get(request: Request, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The page at ``path`` as this browser would get it (same cookies and language)."""
    headers = [
        (k, v)
        for k, v in request.scope["headers"]
        if k not in (b"content-type", b"content-length", b"accept-encoding")
    ]
    scope = {
        **request.scope,
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }
    scope.pop("path_params", None)
    scope.pop("endpoint", None)
    started: dict[str, Any] = {}
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await request.scope["app"].router(scope, receive, send)
    return int(started.get("status", 500)), list(started.get("headers", [])), b"".join(body)


def _find_form(html: str, action: str) -> re.Match[str] | None:
    """The form posting to ``action`` (or the page's form without an action: to itself)."""
    forms = list(re.finditer(r"<form\b[^>]*>.*?</form>", html, flags=re.DOTALL | re.IGNORECASE))
    for form in forms:
        if re.match(rf"<form\b[^>]*\baction=\"{re.escape(action)}\"", form.group(0)):
            return form
    for form in forms:
        opening = form.group(0).split(">", 1)[0]
        if 'method="post"' in opening and "action=" not in opening:
            return form
    return None


def _fill(form_html: str, values: dict[str, str], field: str, message: str) -> str:
    """The form with ``values`` put back and ``message`` after ``field`` (or at its top)."""

    def formatter(text: str) -> str:
        return f'<span class="field-error" role="alert">{text}</span>'

    has_field = re.search(rf"\bname=\"{re.escape(field)}\"", form_html) is not None
    filled = htmlfill.render(
        form_html,
        defaults=values,
        errors={field: str(escape(message))} if has_field else {},
        auto_error_formatter=formatter,
        prefix_error=False,
        force_defaults=False,
        encoding=None,
    )
    if not has_field:
        opening, rest = filled.split(">", 1)
        filled = f'{opening}><p class="alert field-error" role="alert">{escape(message)}</p>{rest}'
    return filled


async def again(request: Request, lang: str, error: FormError) -> Response | None:
    """The form's page again with the error and the values typed; None when the page cannot
    be shown (the caller then shows the error on its own)."""
    posted: dict[str, str] = getattr(request.state, "form", {}) or {}
    if request.method == "GET":  # a form that asks for a page (a flow's): its query
        posted = dict(request.query_params)
    page = error.page or request.url.path
    status, headers, body = await _get(request, page)
    ctype = dict(headers).get(b"content-type", b"").decode("latin-1")
    if status != 200 or not ctype.startswith("text/html"):
        return None
    html = body.decode("utf-8")
    found = _find_form(html, request.url.path)
    if found is None:
        return None
    values = {k: v for k, v in posted.items() if k not in _NOT_KEPT}
    message = error.message(lang)
    filled = _fill(found.group(0), values, error.field, message)
    before = html[: found.start()]
    # A form folded into <details> (a pool's settings) opens, so its error is seen.
    fold = before.rfind("<details")
    if fold != -1 and "</details>" not in before[fold:]:
        before = before[:fold] + "<details open" + before[fold + len("<details") :]
    html = before + filled + html[found.end() :]
    response = Response(html.encode("utf-8"), status_code=error.status)
    for key, value in headers:
        if key not in (b"content-length", b"set-cookie"):
            response.raw_headers.append((key, value))
    response.headers["content-length"] = str(len(response.body))
    return response
