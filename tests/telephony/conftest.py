"""Fixtures of the telephony tests: an app that knows a Twilio auth token, signed posts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from twilio.request_validator import RequestValidator

from backend import create_app
from backend.settings import Settings
from tests.support.browser import BROWSER_HEADERS
from tests.support.server import free_port
from tests.support.speech import two_party_wav
from tests.support.twilio import MessagesApi, TwilioRest, voice_params

AUTH_TOKEN = "test-twilio-auth-token"
PBX_SECRET = "test-pbx-secret"
BASE = "http://testserver"
TRACKING = "+815017000001"  # the demo's first Tokyo tracking number
TARGET = "+81312345678"  # ... and where it forwards
ACCOUNT = "AC" + "1" * 32  # the Twilio account of the Messages and REST stand-ins


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The suite's settings (per store) plus Twilio, PBX and spool settings."""
    return settings.replace(
        twilio_auth_token=AUTH_TOKEN,
        calls_webhook_secret=PBX_SECRET,
        call_spool_path=str(tmp_path / "spool.jsonl"),
        notify_backoff_seconds=0.05,
    )


@pytest.fixture
def messages_api() -> MessagesApi:
    """Twilio's Messages API stand-in (texts), reached in-process by the app."""
    return MessagesApi(ACCOUNT, AUTH_TOKEN)


@pytest.fixture
async def app(settings: Settings, messages_api: MessagesApi) -> AsyncIterator[Starlette]:
    """The app, its texts going to :func:`messages_api`."""
    application = create_app(settings)
    application.state.twilio_transport = messages_api.transport
    async with application.router.lifespan_context(application):
        yield application


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature as Twilio computes it, by the official library."""
    return str(RequestValidator(token).compute_signature(url, params))


def call_params(
    sid: str = "CA0001", to: str = TRACKING, caller: str = "+819012345678", **extra: str
) -> dict[str, str]:
    """The parameters of Twilio's voice webhook for an incoming call."""
    return {
        **voice_params(sid, to, caller),
        "CallerName": "",
        "FromCountry": "JP",
        "ToCountry": "JP",
        **extra,
    }


async def post_twilio(
    client: httpx.AsyncClient, path: str, params: dict[str, str], *, url: str | None = None
) -> httpx.Response:
    """POST a form to ``path`` signed for ``url`` (default: the URL actually requested)."""
    signed_url = url or BASE + path
    return await client.post(
        path, data=params, headers={"X-Twilio-Signature": sign(signed_url, params)}
    )


@contextmanager
def store_swapped(app: Starlette, store: Any) -> Iterator[Any]:
    """The app reads and writes through ``store`` (a failing stand-in for the database)
    until the block ends, then through its own store again."""
    real = app.state.db
    app.state.db = store
    try:
        yield store
    finally:
        app.state.db = real


async def add_source_number(db: Any, number: str, forward_to: str, **fields: Any) -> int:
    """A source number of the demo's advertiser (a flyer's own number), stored straight
    through ``pool.numbers`` as any version of callpath may have stored it."""
    from pool import numbers
    from pool.store import now_ms

    async with db.write() as tx:
        number_id: int = await numbers.add_number(
            tx,
            advertiser_id=1,
            number=number,
            forward_to=forward_to,
            kind="source",
            now_ms=now_ms(),
            **fields,
        )
    return number_id


async def call_row(db: Any, sid: str) -> Any:
    """The stored call of Twilio's CallSid ``sid`` (None: not stored)."""
    return await db.fetchone("SELECT * FROM calls WHERE provider_call_id = :c", {"c": sid})


async def holder_of(db: Any, number: str) -> int:
    """The session whose live lease holds the tracking ``number`` (E.164)."""
    return int(
        await db.fetchval(
            "SELECT l.session_id FROM leases l JOIN tracking_numbers n ON n.id = l.number_id"
            " WHERE n.number = :n AND l.ended_ms IS NULL",
            {"n": number},
        )
    )


@pytest.fixture
async def telephony(app: Starlette, demo: dict[str, Any]) -> Any:
    """The telephony service, its routing table reloaded after the demo was seeded."""
    service = app.state.telephony
    await service.table.load()
    return service


@pytest.fixture
async def tclient(app: Starlette, telephony: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    # Browser-like headers, so /v1/session sees a person (Twilio's own posts are not
    # affected: the webhooks do not look at them).
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=BROWSER_HEADERS) as c:
        yield c


class Mailbox:
    """A real SMTP server's handler (aiosmtpd) that keeps the messages it was sent."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Any:
    """A local SMTP server: (its mailbox, its port)."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


# A call recording (issue #22): what each side says (ACCOUNT above is also the REST stand-in's).
CALLER_SAYS = "Hello, I would like to book an appointment for tomorrow morning."
BUSINESS_SAYS = "Thank you for calling. We can book your appointment for tomorrow morning."


@pytest.fixture(scope="module")
def spoken() -> bytes:
    """One two-channel call recording, spoken by espeak-ng (made once per module)."""
    return two_party_wav(CALLER_SAYS, BUSINESS_SAYS)


@pytest.fixture
def rest() -> Iterator[TwilioRest]:
    """Twilio's REST API for recordings, on a loopback port."""
    with TwilioRest(ACCOUNT, AUTH_TOKEN) as server:
        yield server
