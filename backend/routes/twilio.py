"""Twilio webhooks: ``/twilio/voice`` (and ``/twilio/code`` after a visit code's
``<Gather>``), ``/twilio/status``, ``/twilio/dial``, ``/twilio/recording``,
``/twilio/whisper`` and ``/twilio/flow`` (call flows). Logic lives in
``backend.telephony.twilio``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.api.params import db_of
from backend.errors import ApiError
from backend.reservations import voice as reservation_voice
from backend.reservations.service import reservations_of
from backend.telephony import audio, codes, flows, sms, twiml
from backend.telephony import twilio as tw
from backend.telephony.calls import CallEvent
from backend.telephony.service import telephony_of


def _twiml(body: bytes, started: tuple[float, float] | None = None) -> Response:
    headers = {"cache-control": "no-store"}
    if started is not None:
        # How long the answer took inside the app (wall clock, and CPU of this thread:
        # the difference is time spent waiting for the CPU or for other tasks).
        wall = (time.perf_counter() - started[0]) * 1000
        cpu = (time.thread_time() - started[1]) * 1000
        headers["server-timing"] = f"app;dur={wall:.3f}, cpu;dur={cpu:.3f}"
    return Response(body, media_type=twiml.CONTENT_TYPE, headers=headers)


async def voice(request: Request) -> Response:
    """A call to a tracking number: answer ``<Dial>`` at once, record the call afterwards."""
    started = (time.perf_counter(), time.thread_time())
    tel = telephony_of(request)
    params = await tw.signed_params(request, tel.settings)
    base = tw.base_url(request, tel.settings)
    if tel.table.get(params.get("To", "").strip()) is None:
        # Not a tracking number: perhaps a reservation number (予約型コール).
        reserved = await reservation_voice.answer(reservations_of(request), tel, params, base)
        if reserved is not None:
            return _twiml(twiml.render(reserved), started)
    # Visit codes: a number that listens for a code first answers <Gather> (memory only).
    listen = codes.listen_first(tel, params, base)
    if listen is not None:
        return _twiml(listen, started)
    return _twiml(await tw.find_route_then_answer(tel, params, base), started)


async def code(request: Request) -> Response:
    """After ``<Gather>`` (visit codes): the ordinary answer, the digits heard on the call."""
    started = (time.perf_counter(), time.thread_time())
    tel = telephony_of(request)
    params = codes.with_digits(await tw.signed_params(request, tel.settings))
    base = tw.base_url(request, tel.settings)
    return _twiml(await tw.find_route_then_answer(tel, params, base), started)


async def flow(request: Request) -> Response:
    """A call flow's callback (``<Dial action>``, ``<Gather>``, the queue's wait and
    action URLs, ``<Record>``, a destination answering): the flow's next verbs."""
    started = (time.perf_counter(), time.thread_time())
    tel = telephony_of(request)
    params = await tw.signed_params(request, tel.settings)
    query = {k: v[:64] for k, v in list(request.query_params.items())[:12]}
    base = tw.base_url(request, tel.settings)
    return _twiml(await tw.flow_step(tel, params, base, query), started)


def _recorded(
    event_of: Callable[[dict[str, str]], CallEvent], answer: Callable[[], bytes], doc: str
) -> Callable[[Request], Awaitable[Response]]:
    """A webhook that hands its signed event to the recorder, journaled before it answers.

    The status, dial and recording callbacks differ only in the event they read and the
    TwiML they answer, so one body serves all three.
    """

    async def handler(request: Request) -> Response:
        tel = telephony_of(request)
        tel.recorder.submit(event_of(await tw.signed_params(request, tel.settings)))
        await tel.recorder.journaled()
        return _twiml(answer())

    handler.__doc__ = doc
    return handler


status = _recorded(
    tw.status_event, twiml.empty, "The call's status callback (configured on the number in Twilio)."
)
dial = _recorded(
    tw.dial_event,
    twiml.hangup,
    "``<Dial action>``: the business answered, was busy, did not answer, or failed.",
)
recording = _recorded(tw.recording_event, twiml.empty, "The recording of a call is ready.")


async def audio_file(request: Request) -> Response:
    """An uploaded prompt, for Twilio's ``<Play>``: only at a signed URL not yet expired."""
    tel = telephony_of(request)
    audio_id = int(request.path_params["audio_id"])
    query = request.query_params
    if not audio.valid(
        tel.settings.secret_key, audio_id, query.get("exp", ""), query.get("sig", "")
    ):
        raise ApiError(403, "forbidden", "This audio address is not valid or has expired.")
    found = await audio.read(tel.table.store(), audio_id)
    if found is None:
        raise ApiError(404, "not_found", "No such audio.")
    return Response(
        found[1], media_type=found[0], headers={"cache-control": "private, max-age=300"}
    )


async def whisper(request: Request) -> Response:
    """What the person answering hears before the caller is connected."""
    tel = telephony_of(request)
    await tw.signed_params(request, tel.settings)
    call_sid = request.query_params.get("call", "")
    number = request.query_params.get("number", "")
    if not call_sid or len(call_sid) > 64 or len(number) > 40:
        raise ApiError(400, "bad_request", "call and number are required query parameters.")
    return _twiml(await tw.whisper(tel, call_sid, number))


async def reservation_dial(request: Request) -> Response:
    """``<Dial action>`` of a reserved call: connected (billable), or a retry planned."""
    tel = telephony_of(request)
    params = await tw.signed_params(request, tel.settings)
    attempt = request.query_params.get("attempt", "")
    if not attempt.isdigit() or len(attempt) > 15:
        raise ApiError(400, "bad_request", "attempt is a required query parameter.")
    await reservations_of(request).dial_ended(
        int(attempt),
        params.get("DialCallStatus", "")[:20],
        max(0, tw.count_param(params.get("DialCallDuration"))),
        params.get("RecordingUrl", "")[:1000],
    )
    return _twiml(twiml.hangup())


async def sms_status(request: Request) -> Response:
    """A text's delivery status (the ``StatusCallback`` given when it was sent)."""
    tel = telephony_of(request)
    await sms.record_status(db_of(request), await tw.signed_params(request, tel.settings))
    return _twiml(twiml.empty())


async def sms_inbound(request: Request) -> Response:
    """A text sent to one of our numbers: STOP / 停止 opts the sender out, START back in."""
    tel = telephony_of(request)
    await sms.record_inbound(db_of(request), await tw.signed_params(request, tel.settings))
    return _twiml(twiml.empty())


routes = [
    Route("/twilio/voice", voice, methods=["POST"]),
    Route(codes.PATH, code, methods=["POST"]),
    Route(flows.PATH, flow, methods=["POST"]),
    Route(audio.PATH + "/{audio_id:int}", audio_file, methods=["GET"]),
    Route("/twilio/status", status, methods=["POST"]),
    Route("/twilio/dial", dial, methods=["POST"]),
    Route("/twilio/recording", recording, methods=["POST"]),
    Route("/twilio/whisper", whisper, methods=["POST"]),
    Route("/twilio/reservations/dial", reservation_dial, methods=["POST"]),
    Route("/twilio/sms/status", sms_status, methods=["POST"]),
    Route("/twilio/sms/inbound", sms_inbound, methods=["POST"]),
]
