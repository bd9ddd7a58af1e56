"""What request handlers share, built once by ``create_app`` (never lazily per request).

The app keeps one :class:`Services` in ``app.state.services``: the signer of the API's
pagination cursors, the record of when each API token's last use was written, and the
dashboard's sign-in throttle. Building them with the app means their settings are read
once, at start-up, and no handler has to ask whether another one made them already.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from attribution.tokens import Signer
from backend.dashboard.throttle import LoginLimits, LoginThrottle
from backend.settings import Settings

CURSOR = "callpath.api.cursor"
RECORDING_LINK = "callpath.recording.link"


@dataclass
class Services:
    """The shared parts of one app."""

    cursors: Signer
    login_throttle: LoginThrottle
    # Signs the short-lived links to recordings (backend/recordings/links.py).
    recording_links: Signer
    # API token id -> when its last use was last written (at most once a minute per process).
    token_touched: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """The services of an app with these settings."""
        return cls(
            cursors=Signer(settings.secret_key, CURSOR),
            login_throttle=LoginThrottle(
                LoginLimits(
                    per_hour=settings.login_failures_per_hour,
                    burst=settings.login_failure_burst,
                )
            ),
            recording_links=Signer(settings.secret_key, RECORDING_LINK),
        )


def services(request: Request) -> Services:
    """The services of the request's app (made in ``create_app``)."""
    built: Services = request.app.state.services
    return built
