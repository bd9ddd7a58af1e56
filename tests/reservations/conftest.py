"""Fixtures of the reserved-call tests: an app with texts going to the Twilio stand-in's
Messages API, a clock the test moves, an advertiser with a token, a reservation number and
a registered phone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from backend import create_app
from backend.api.jobs import job_runner
from backend.durable import Runner
from backend.settings import Settings
from backend.storage import seed
from tests.support.twilio import MessagesApi, TwilioStandIn

AUTH_TOKEN = "test-twilio-auth-token"
ACCOUNT = "AC" + "2" * 32
BASE = "http://testserver"
ADVERTISER_PHONE = "+819011112222"
LEAD = "+819033334444"
STRANGER = "+819055556666"
NUMBER = "+815012340001"
# 2026-12-07 00:00 UTC (09:00 in Tokyo): the tests' clock starts here.
T0 = 1_796_601_600_000
MINUTE = 60_000


class Clock:
    """A clock the test moves (epoch ms)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Portal:
    """What the fixtures set up."""

    advertiser_id: int
    token: str
    number_id: int


def reservation_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Texts through the stand-in; the job runner driven by the test (poll off)."""
    return settings.replace(
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT,
        sms_sender="CALLPATH",
        public_url=BASE,
        call_spool_path=str(tmp_path / "spool.jsonl"),
        jobs_poll_seconds=0,
    )


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return reservation_settings(settings, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def messages_api() -> MessagesApi:
    return MessagesApi(ACCOUNT, AUTH_TOKEN)


@contextlib.asynccontextmanager
async def instance(
    settings: Settings, messages: MessagesApi, clock: Clock
) -> AsyncIterator[Starlette]:
    """A running app whose texts go to ``messages`` and whose reservations read ``clock``."""
    application = create_app(settings)
    application.state.twilio_transport = messages.transport
    application.state.reservations.clock = clock
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def app(
    settings: Settings, messages_api: MessagesApi, clock: Clock
) -> AsyncIterator[Starlette]:
    async with instance(settings, messages_api, clock) as application:
        yield application


@pytest.fixture
async def portal(app: Starlette) -> Portal:
    db = app.state.db
    member = seed.UserSpec("portal@example.com", "pw-12345678", token="portal")
    world = await seed.seed_world(
        db, [seed.TenantSpec("ABC不動産", users=[member])], at_ms=T0 - 86_400_000
    )
    advertiser = world.tenant("ABC不動産").advertiser_id
    async with db.write() as tx:
        [number_id] = await seed.add_reservation_numbers(
            tx, [NUMBER], advertiser_id=advertiser, phones=[ADVERTISER_PHONE], now_ms=T0
        )
    return Portal(advertiser, world.tokens["portal@example.com"], number_id)


@pytest.fixture
def runner(app: Starlette, clock: Clock) -> Runner:
    return job_runner(app, clock=clock)


@pytest.fixture
def twilio(client: httpx.AsyncClient) -> TwilioStandIn:
    return TwilioStandIn(client, AUTH_TOKEN, BASE)


def auth(portal: Portal) -> dict[str, str]:
    """The portal's API token as a header."""
    return {"Authorization": f"Bearer {portal.token}"}
