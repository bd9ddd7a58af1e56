"""The telephony service of one process: routing table, recorder and notifier together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from attribution.outbound import OutboundPolicy
from backend.notify import Notifier
from backend.notify.mail import SmtpConfig
from backend.observability.metrics import Metrics
from backend.settings import Settings
from backend.telephony import journal, matching
from backend.telephony.calls import CallEvent, Recorded
from backend.telephony.options import CallOptions
from backend.telephony.recorder import AfterHook, Recorder
from backend.telephony.routing import RoutingTable
from backend.telephony.sms import Sms
from pool.store import Store

log = logging.getLogger("callpath.telephony")


@dataclass
class Telephony:
    """What the webhooks need, held on ``app.state.telephony``."""

    settings: Settings
    table: RoutingTable
    recorder: Recorder
    notifier: Notifier
    sms: Sms


def _after_write(notifier: Notifier, metrics: Metrics | None) -> AfterHook:
    async def after_write(db: Store, event: CallEvent, recorded: Recorded) -> None:
        """Count a new call; qualify a call once it has ended and announce it to the
        advertiser's targets (not a call refused by the advertiser's own block list)."""
        if metrics is not None and recorded.created:
            metrics.call_created(recorded.match.method if recorded.match else "none")
        if event.status == "blocked":
            return
        if recorded.created:
            notifier.notify(recorded.call_id, recorded.advertiser_id, "started")
        if recorded.rank >= 2:
            await matching.qualify(db, recorded.call_id)
        if recorded.ended:
            notifier.notify(recorded.call_id, recorded.advertiser_id, "completed")
        if event.kind == "flow" and event.payload.get("what") == "voicemail":
            # Once per call and target, however often the recording is reported.
            notifier.notify(recorded.call_id, recorded.advertiser_id, "voicemail")

    return after_write


def default_options(settings: Settings) -> CallOptions:
    """Call options from the settings (an advertiser's own ones override them)."""
    return CallOptions.from_settings(settings)


def build(app: Any) -> Telephony:
    """The service for an app whose storage is ``app.state.db`` (read at each use, so a
    replaced or reopened store is picked up)."""
    settings: Settings = app.state.settings

    def db() -> Store:
        store: Store = app.state.db
        return store

    smtp = None
    if settings.smtp_host:
        smtp = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            sender=settings.smtp_from,
        )
    notifier = Notifier(
        db,
        smtp=smtp,
        attempts=settings.notify_attempts,
        backoff_s=settings.notify_backoff_seconds,
        policy=OutboundPolicy.parse(settings.outbound_allow_hosts),
    )
    recorder = Recorder(
        db,
        matcher=matching.matcher(settings),
        after=_after_write(notifier, getattr(app.state, "metrics", None)),
        write_timeout_s=settings.call_write_timeout_seconds,
        journal_path=journal.resolve(settings.call_spool_path, settings.database_url),
    )
    table = RoutingTable(
        db, default_options(settings), code_life_ms=settings.visit_code_days * 86_400_000
    )
    return Telephony(settings, table, recorder, notifier, build_sms(settings, app))


def build_sms(settings: Settings, app: Any = None) -> Sms:
    """The text sender of these settings (delivery statuses come back to the public URL).

    ``app.state.twilio_transport``, when a test set one, carries its REST requests."""
    callback = ""
    if settings.public_url:
        callback = settings.public_url.rstrip("/") + "/twilio/sms/status"
    return Sms(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        sender=settings.sms_sender,
        api_url=settings.twilio_api_url,
        status_callback=callback,
        transport=getattr(getattr(app, "state", None), "twilio_transport", None),
    )


@contextlib.asynccontextmanager
async def telephony_lifespan(app: Any) -> AsyncIterator[Telephony]:
    """Load the routing table, start the recorder and the refresh; stop them at the end."""
    telephony = build(app)
    app.state.telephony = telephony
    try:
        await asyncio.wait_for(telephony.table.load(), timeout=10)
    except Exception as exc:  # start anyway: numbers are looked up one by one meanwhile
        log.error("routing table not loaded at start-up: %s", exc)
    await telephony.recorder.start()
    refresh = asyncio.create_task(
        telephony.table.refresh_forever(max(1, telephony.settings.routing_refresh_seconds))
    )
    try:
        yield telephony
    finally:
        refresh.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresh
        await telephony.recorder.stop()
        await telephony.notifier.close()
        await telephony.sms.close()


def telephony_of(request: Request) -> Telephony:
    """The telephony service of the app serving ``request``."""
    service: Telephony = request.app.state.telephony
    return service
