"""Twilio's webhooks: signed form posts in, TwiML out, calls recorded after the answer.

Nothing here waits on storage before answering: the route comes from the in-memory routing
table and the call is handed to the recorder's queue.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, quote

from starlette.requests import Request

from backend.errors import ApiError
from backend.http import read_body
from backend.observability.context import bind_call
from backend.settings import Settings
from backend.telephony import codes, flows, sanitize, signature, twiml, verbs
from backend.telephony.calls import CallEvent
from backend.telephony.routing import Route
from backend.telephony.service import Telephony
from backend.telephony.verbs import Answer
from backend.telephony.whisper import announcement
from pool.store import now_ms

MAX_FIELDS = 300
PROVIDER = "twilio"
log = logging.getLogger("callpath.telephony")


def public_url(request: Request, settings: Settings) -> str:
    """The URL Twilio requested: ``CALLPATH_PUBLIC_URL`` + path when set (behind a proxy)."""
    if not settings.public_url:
        return str(request.url)
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def base_url(request: Request, settings: Settings) -> str:
    """Where callbacks are sent: the public address, or the one this request came to."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


async def signed_params(request: Request, settings: Settings) -> dict[str, str]:
    """The form parameters of a request Twilio signed; 403 when it did not."""
    sent = request.headers.get(signature.TWILIO_HEADER, "")
    if not sent or len(sent) > 200:
        raise ApiError(403, "forbidden", "X-Twilio-Signature is missing.")
    algorithm = signature.twilio_algorithm(
        request.headers.get(signature.TWILIO_SETTINGS_HEADER, "")
    )
    if algorithm is None:
        raise ApiError(403, "forbidden", "Unknown Twilio signature algorithm.")
    key = settings.twilio_auth_token
    if request.headers.get(signature.TWILIO_SETTINGS_HEADER) and settings.twilio_signing_key:
        key = settings.twilio_signing_key
    if not key:
        raise ApiError(403, "forbidden", "CALLPATH_TWILIO_AUTH_TOKEN is not set on this server.")
    body = await read_body(request)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "bad_request", f"Body is not a form: {exc}") from exc
    if not signature.twilio_valid(key, public_url(request, settings), pairs, sent, algorithm):
        raise ApiError(403, "forbidden", "X-Twilio-Signature does not match.")
    params = sanitize.params(dict(pairs))
    # Every later log line of this request (and the recorder's write of its event, which
    # carries the request id) names the call.
    bind_call(params.get("CallSid", ""))
    log.info(
        "twilio webhook %s: call %s %s",
        request.url.path,
        params.get("CallSid", "")[:64],
        params.get("DialCallStatus") or params.get("CallStatus", ""),
    )
    # Signed means Twilio sent it, not that it is clean: a caller id can carry anything.
    return params


def count_param(value: str | None, ceiling: int = 7 * 86400) -> int:
    """A non-negative count from a form field, or -1 when absent or not a number."""
    if value is None or not value.strip().isdigit() or len(value) > 9:
        return -1
    return min(int(value), ceiling)


def _number(params: dict[str, str], *names: str) -> str:
    for name in names:
        if params.get(name):
            return params[name].strip()[:40]
    return ""


def _call_sid(params: dict[str, str]) -> str:
    sid = params.get("CallSid", "").strip()
    if not sid or len(sid) > 64:
        raise ApiError(400, "bad_request", "CallSid is missing or too long.")
    return sid


def _event(params: dict[str, str], kind: str, **fields: object) -> CallEvent:
    return CallEvent(
        provider=PROVIDER,
        call_id=_call_sid(params),
        kind=kind,
        ts_ms=now_ms(),
        tracking_number=_number(params, "To", "Called"),
        caller=_number(params, "From", "Caller"),
        payload=dict(params),
        digits=params.get(codes.DIGITS_PARAM, ""),
        **fields,  # type: ignore[arg-type]
    )


def voice_answer(
    tel: Telephony, params: dict[str, str], base: str, route: Route | None = None
) -> Answer:
    """The verbs for a new call: forward it to the number's target, or reject it.

    Synchronous on purpose: it must not wait on anything but memory (``route``: the one
    :func:`find_route_then_answer` worked out, else the table's). Call-flow steps
    (docs/contributing.md) return verbs the same way and end in :func:`verbs.forward`.
    """
    sid = _call_sid(params)
    to = _number(params, "To", "Called")
    caller = _number(params, "From", "Caller")
    route = route or tel.table.get(to)
    if route is None:
        tel.recorder.submit(_event(params, "voice", status=params.get("CallStatus", "ringing")))
        return (verbs.Reject(),)
    if tel.table.blocked(route.advertiser_id, caller):
        tel.recorder.submit(_event(params, "voice", status="blocked"))
        return (verbs.Reject(),)
    tel.recorder.submit(
        _event(
            params,
            "voice",
            status=params.get("CallStatus", "ringing"),
            forwarded_to=route.forward_to,
        )
    )
    return forward_answer(tel, route, base, sid)


def forward_answer(tel: Telephony, route: Route, base: str, sid: str) -> Answer:
    """Plain forwarding of call ``sid`` to its route's target, with the advertiser's call
    options (the answer of a number without a call flow, and every flow's fallback)."""
    to = route.number
    options = tel.table.options(route.advertiser_id)
    whisper_url = ""
    if options.whisper:
        whisper_url = (
            f"{base}/twilio/whisper?call={quote(sid, safe='')}&number={quote(to, safe='')}"
        )
    step = verbs.Forward(
        forward_to=route.forward_to,
        timeout_s=options.timeout_s,
        caller_id=route.number if options.caller_id == "tracking" else "",
        action_url=f"{base}/twilio/dial",
        record=options.record,
        recording_callback_url=f"{base}/twilio/recording",
        recording_notice=tel.settings.recording_notice,
        whisper_url=whisper_url,
        language=options.language,
        voice=options.voice,
    )
    return verbs.forward(step)


def answer_voice(
    tel: Telephony, params: dict[str, str], base: str, route: Route | None = None
) -> bytes:
    """The TwiML of :func:`voice_answer`."""
    return twiml.render(voice_answer(tel, params, base, route))


async def find_route_then_answer(tel: Telephony, params: dict[str, str], base: str) -> bytes:
    """Like :func:`answer_voice`, first looking a number missing from the table up once."""
    to = _number(params, "To", "Called")
    # (One number per visitor: the target the visitor saw last, see RoutingTable.for_call.)
    route = await tel.table.for_call(to, budget_s=0.5) if to else None
    answer = voice_answer(tel, params, base, route)
    if route is not None and verbs.dial_of(answer) is not None:
        # Put through: the target's call flow decides how (plain forwarding without one).
        answer = await flows.start(tel, params, base, route, answer)
    await tel.recorder.journaled()  # the call is on disk before Twilio hears the answer
    return twiml.render(answer)


async def flow_step(
    tel: Telephony, params: dict[str, str], base: str, query: dict[str, str]
) -> bytes:
    """The answer to a call flow's callback (``query``: the call's place in its flow)."""
    tracking = query.get("tn", "")[:40]
    route = tel.table.get(tracking)
    # Should the flow be gone mid-call: a queued caller leaves the queue, a report of a
    # leg or a voicemail needs nothing, anyone else is put through to the target.
    phase = query.get("p", "")
    plain: Answer = (verbs.Leave(),) if phase == "wait" else ()
    if route is not None and phase not in ("wait", "leg", "vm"):
        plain = forward_answer(tel, route, base, _call_sid(params))
    answer = await flows.resume(tel, params, base, query, plain)
    await tel.recorder.journaled()
    return twiml.render(answer)


async def whisper(tel: Telephony, call_sid: str, number: str) -> bytes:
    """The announcement for the person answering a call (入電ガイダンス)."""
    route = tel.table.get(number)
    options = tel.table.options(route.advertiser_id) if route else tel.table.defaults
    label = route.source_label if route else ""
    # The business is on the line waiting: the match is normally known by now.
    known = await tel.recorder.source(call_sid, budget_s=2.0)
    if known is not None:
        session, label = known[0], known[1] or label
        text = announcement(session, label, options.language)
    else:
        text = announcement(None, label, options.language)
    return twiml.render((verbs.Say(text, options.language, options.voice),))


def status_event(params: dict[str, str]) -> CallEvent:
    """The call status callback (the caller's leg)."""
    return _event(
        params,
        "status",
        status=params.get("CallStatus", "")[:20],
        duration_s=count_param(params.get("CallDuration")),
    )


def dial_event(params: dict[str, str]) -> CallEvent:
    """The ``<Dial action>`` callback: the outcome of forwarding to the business."""
    return _event(
        params,
        "dial",
        status=params.get("DialCallStatus", "")[:20],
        talk_s=count_param(params.get("DialCallDuration")),
        recording_url=params.get("RecordingUrl", "")[:1000],
        recording_sid=params.get("RecordingSid", "")[:64],
    )


def recording_event(params: dict[str, str]) -> CallEvent:
    """The recording status callback."""
    state = params.get("RecordingStatus", "completed")[:20]
    done = state == "completed"
    return _event(
        params,
        "recording",
        status=state,
        recording_url=params.get("RecordingUrl", "")[:1000] if done else "",
        recording_sid=params.get("RecordingSid", "")[:64],
    )
