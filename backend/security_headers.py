"""The security headers of every HTML page: the dashboard's pages and every error page.

Kept apart from the dashboard's plumbing so the app-wide error handlers
(:mod:`backend.errors`) stamp the same headers without importing the dashboard.
"""

from __future__ import annotations

from starlette.responses import Response

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
        " frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def secure(response: Response) -> Response:
    """Add the security headers to a response (headers it set itself are kept)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
