"""A Twilio stand-in for tests: plays Twilio's part of a call against callpath.

It requests the voice URL with parameters signed by the official ``twilio`` library, then
follows the TwiML the way Twilio does — ``<Gather>`` (digits, timeout, action, falling
through to the next verb without digits, or calling the action with none), ``<Redirect>``,
``<Dial>`` and its action with ``DialCallStatus`` (each destination busy, unanswered or
answering after some seconds), a ``<Number>``'s answered callback, ``<Enqueue>`` (its
wait URL with ``QueueTime`` and ``QueuePosition`` until ``<Leave>``, then its action),
``<Record>`` (its action, then the recording status callback), ``<Say>``, ``<Play>``,
``<Pause>``, ``<Reject>``, ``<Hangup>`` — and sends the status callback at the end, the
callbacks Twilio sends on its own before or after it. Every document is checked against
Twilio's vocabulary (a verb or an attribute Twilio does not know, or one out of place,
fails the test).

Time is kept, not spent: :class:`Call.waited_s` adds up how long the caller would wait
before being put through (a ``<Gather>`` that hears nothing costs its ``timeout``; one
that hears the digits costs the phone's pause and the digits' tones), so a test asserts
the wait without sleeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import httpx
from twilio.request_validator import RequestValidator

# Verbs and nouns with the attributes Twilio documents for them (the ones callpath may use).
VOCABULARY: dict[str, set[str]] = {
    "Response": set(),
    "Gather": {
        "input",
        "numDigits",
        "timeout",
        "action",
        "method",
        "finishOnKey",
        "actionOnEmptyResult",
        "language",
        "speechTimeout",
        "hints",
        "partialResultCallback",
    },
    "Redirect": {"method"},
    "Dial": {
        "action",
        "method",
        "answerOnBridge",
        "callerId",
        "timeout",
        "record",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "timeLimit",
        "hangupOnStar",
        "ringTone",
    },
    "Number": {
        "url",
        "method",
        "sendDigits",
        "statusCallback",
        "statusCallbackEvent",
        "statusCallbackMethod",
    },
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Reject": {"reason"},
    "Hangup": set(),
    # https://www.twilio.com/docs/voice/twiml/enqueue, /leave, /record
    "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "maxQueueSize", "workflowSid"},
    "Leave": set(),
    "Record": {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "maxLength",
        "playBeep",
        "trim",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "transcribe",
        "transcribeCallback",
    },
}
# What may stand where: the verbs of a queue's wait URL are fewer (no Dial, no Enqueue).
TOP_LEVEL = {"Say", "Play", "Pause", "Gather", "Dial", "Record", "Enqueue", "Redirect", "Hangup"}
TOP_LEVEL |= {"Reject"}
WAIT_URL = {"Say", "Play", "Pause", "Gather", "Redirect", "Leave", "Hangup"}
CHILDREN = {"Gather": {"Say", "Play", "Pause"}, "Dial": {"Number"}}
# A DTMF tone and the gap after it, as phones send post-dial digits.
TONE_S = 0.2
# How long a played sound lasts for the stand-in's clock (hold music, a <Say>).
PLAY_S = 10.0
SAY_S = 3.0


def check_vocabulary(root: ET.Element, allowed: set[str] = TOP_LEVEL) -> None:
    """Fail on any element or attribute outside Twilio's vocabulary, or out of place."""
    assert root.tag == "Response", root.tag
    for verb in root:
        assert verb.tag in allowed, f"<{verb.tag}> may not stand here"
        for child in verb:
            assert child.tag in CHILDREN.get(verb.tag, set()), f"<{child.tag}> in <{verb.tag}>"
    for element in root.iter():
        assert element.tag in VOCABULARY, f"<{element.tag}> is not TwiML"
        unknown = set(element.attrib) - VOCABULARY[element.tag]
        assert not unknown, f"<{element.tag}> has attributes Twilio does not know: {unknown}"


def voice_params(sid: str, to: str, caller: str) -> dict[str, str]:
    """What Twilio's voice webhook posts first for an incoming call (still ringing)."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": to,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "To": to,
    }


@dataclass
class Call:
    """What happened to one call through the stand-in."""

    sid: str
    documents: list[ET.Element] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    dialled: str = ""  # where <Dial> put the caller through ('' : not put through)
    rejected: bool = False
    waited_s: float = 0.0  # how long the caller waited before <Dial>
    digits_sent: str = ""
    # Call flows: each <Dial> as (numbers rung, outcome), who answered, the time in a
    # queue, the voicemail left, what the caller heard.
    attempts: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    answered_by: str = ""
    queued_s: float = 0.0
    voicemail: str = ""
    heard: list[str] = field(default_factory=list)
    clock_s: float = 0.0


class TwilioStandIn:
    """Twilio's side of calls to one callpath app (an httpx client pointed at it).

    ``phones`` says how each destination a flow dials behaves: ``"busy"``, ``"no-answer"``
    (rings until the timeout) or the seconds after which it answers; a number not listed
    answers after 3 s. Without ``phones`` a ``<Dial>`` is answered (or not: ``answered``)
    at once, as before call flows.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        auth_token: str,
        base: str,
        *,
        phones: dict[str, str | float] | None = None,
    ) -> None:
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.base = base.rstrip("/")
        self.phones = phones
        self._legs = 0

    async def _post(self, call: Call, url: str, params: dict[str, str]) -> httpx.Response:
        if url.startswith("/"):
            url = self.base + url
        signature = self.validator.compute_signature(url, params)
        call.requests.append((url, dict(params)))
        path = url[len(self.base) :] if url.startswith(self.base) else url
        return await self.client.post(
            path, data=params, headers={"X-Twilio-Signature": str(signature)}
        )

    async def _document(
        self, call: Call, response: httpx.Response, allowed: set[str] = TOP_LEVEL
    ) -> ET.Element:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        check_vocabulary(root, allowed)
        call.documents.append(root)
        return root

    def _ring(self, numbers: list[str], timeout: float) -> tuple[str, str, float]:
        """(outcome, who answered, seconds rung) of ringing ``numbers`` together."""
        assert self.phones is not None
        answers = []
        busy = 0
        for number in numbers:
            phone = self.phones.get(number, 3.0)
            if phone == "busy":
                busy += 1
            elif isinstance(phone, int | float) and phone < timeout:
                answers.append((float(phone), number))
        if answers:
            after, who = min(answers)
            return "completed", who, after
        if busy == len(numbers):
            return "busy", "", 0.0
        return "no-answer", "", timeout

    async def _dial(
        self, call: Call, verb: ET.Element, params: dict[str, str], answered: bool, later: list
    ) -> tuple[str, dict[str, str]] | None:
        numbers = [n.text or "" for n in verb.findall("Number")] or [verb.text or ""]
        call.dialled = numbers[0]
        action = verb.get("action")
        if self.phones is None:
            status = "completed" if answered else "no-answer"
            extra = {"DialCallStatus": status, "DialCallDuration": "30"}
        else:
            status, who, rung = self._ring(numbers, float(verb.get("timeout", "30")))
            call.clock_s += rung
            call.attempts.append((tuple(numbers), status))
            extra = {"DialCallStatus": status}
            if who:
                call.answered_by = who
                call.dialled = who
                extra["DialCallDuration"] = "30"
                self._legs += 1
                leg = {
                    **params,
                    "CallSid": f"{call.sid}L{self._legs}",
                    "ParentCallSid": call.sid,
                    "CallStatus": "in-progress",
                    "Direction": "outbound-dial",
                    "To": who,
                    "Called": who,
                }
                for number in verb.findall("Number"):
                    if number.text == who and number.get("statusCallback"):
                        assert "answered" in number.get("statusCallbackEvent", "")
                        later.append((number.get("statusCallback"), leg))
        if not action:
            return None
        return action, {**params, **extra}

    async def _queue(
        self, call: Call, verb: ET.Element, params: dict[str, str], position: int
    ) -> tuple[str, dict[str, str]]:
        """Wait in a queue: the wait URL is played again and again until ``<Leave>``."""
        wait_url, waited = verb.get("waitUrl", ""), 0.0
        for _ in range(500):
            wait = {**params, "QueuePosition": str(position), "QueueTime": str(int(waited))}
            wait["QueueSid"] = "QU" + "0" * 32
            root = await self._document(call, await self._post(call, wait_url, wait), WAIT_URL)
            left = False
            for item in root:
                if item.tag == "Leave":
                    left = True
                    break
                waited += self._spent(call, item)
            if left:
                break
        call.queued_s += waited
        call.clock_s += waited
        result = {"QueueResult": "leave", "QueueTime": str(int(waited))}
        return verb.get("action", ""), {**params, **result}

    def _spent(self, call: Call, verb: ET.Element) -> float:
        """Seconds a <Say>, <Play> or <Pause> keeps the caller listening."""
        if verb.tag == "Say":
            call.heard.append(verb.text or "")
            return SAY_S
        if verb.tag == "Play":
            call.heard.append(verb.text or "")
            return PLAY_S
        if verb.tag == "Pause":
            call.waited_s += float(verb.get("length", "1"))
            return float(verb.get("length", "1"))
        return 0.0

    async def call(
        self,
        *,
        to: str,
        caller: str,
        sid: str,
        post_dial: str = "",
        pause_s: float = 2.0,
        answered: bool = True,
        presses: list[str] | None = None,
        voicemail_s: int = 0,
        queue_position: int = 1,
        out_of_order: bool = False,
    ) -> Call:
        """One incoming call. ``post_dial``: digits the phone sends ``pause_s`` seconds after
        the call is answered (a ``tel:`` link's ``,4821``); '' for a caller dialling by hand.

        Call flows: ``presses`` the key pressed at each menu (``''``: silence);
        ``voicemail_s`` how long a message the caller leaves at a ``<Record>``;
        ``queue_position`` their place in a queue. ``out_of_order``: the callbacks Twilio
        sends on their own (a destination answering, a recording ready) arrive after the
        call's final status callback, as they may.
        """
        call = Call(sid)
        params = voice_params(sid, to, caller)
        presses = list(presses or [])
        later: list[tuple[str, dict[str, str]]] = []
        response = await self._post(call, "/twilio/voice", params)
        pending = post_dial
        for _ in range(60):  # redirects and callbacks followed at most this many times
            root = await self._document(call, response)
            params["CallStatus"] = "in-progress"
            nxt: tuple[str, dict[str, str]] | None = None
            for verb in root:
                if verb.tag == "Gather":
                    timeout = float(verb.get("timeout", "5"))
                    for prompt in verb:
                        self._spent(call, prompt)
                    if presses and not pending:
                        heard = presses.pop(0)
                        call.digits_sent += heard
                        if heard or verb.get("actionOnEmptyResult") == "true":
                            call.waited_s += 1.0 if heard else timeout
                            nxt = (verb.get("action", ""), {**params, "Digits": heard})
                            break
                        call.waited_s += timeout
                        continue
                    wanted = int(verb.get("numDigits", "0") or 0) or len(pending)
                    if pending and pause_s < timeout:
                        heard, pending = pending[:wanted], pending[wanted:]
                        call.waited_s += pause_s + TONE_S * len(heard)
                        call.digits_sent += heard
                        nxt = (verb.get("action", ""), {**params, "Digits": heard})
                        break
                    call.waited_s += timeout  # nothing heard in time: on to the next verb
                elif verb.tag == "Redirect":
                    nxt = ((verb.text or "").strip(), dict(params))
                    break
                elif verb.tag in ("Pause", "Say", "Play"):
                    call.clock_s += self._spent(call, verb)
                elif verb.tag == "Dial":
                    nxt = await self._dial(call, verb, params, answered, later)
                    if self.phones is None and nxt is not None:
                        await self._post(call, *nxt)  # the answer ends the call
                        nxt = None
                    break
                elif verb.tag == "Enqueue":
                    nxt = await self._queue(call, verb, params, queue_position)
                    break
                elif verb.tag == "Record":
                    recording = {
                        "RecordingUrl": f"https://api.twilio.com/recordings/RE{sid}",
                        "RecordingSid": f"RE{sid}"[:34],
                        "RecordingDuration": str(voicemail_s),
                    }
                    if voicemail_s and verb.get("recordingStatusCallback"):
                        call.voicemail = recording["RecordingUrl"]
                        done = {**params, **recording, "RecordingStatus": "completed"}
                        later.append((verb.get("recordingStatusCallback", ""), done))
                    if verb.get("action"):
                        nxt = (verb.get("action", ""), {**params, **recording, "Digits": "hangup"})
                    break
                elif verb.tag in ("Reject", "Hangup"):
                    call.rejected = verb.tag == "Reject"
                    break
            if nxt is None:
                break
            if not out_of_order:
                for url, leg in later:
                    await self._post_empty(call, url, leg)
                later.clear()
            response = await self._post(call, nxt[0], nxt[1])
        if not out_of_order:
            for url, leg in later:
                await self._post_empty(call, url, leg)
            later.clear()
        await self._post(
            call,
            "/twilio/status",
            {**params, "CallStatus": "completed", "CallDuration": "35"},
        )
        for url, leg in later:  # Twilio's own timing: after the call ended
            await self._post_empty(call, url, leg)
        return call

    async def _post_empty(self, call: Call, url: str, params: dict[str, str]) -> None:
        """A callback whose answer Twilio ignores (it must still be TwiML)."""
        response = await self._post(call, url, params)
        root = ET.fromstring(response.content)
        assert response.status_code == 200 and root.tag == "Response", response.text
        assert not list(root), "a status callback's answer has no verbs"


def verbs(call: Call) -> list[list[str]]:
    """The verbs of each TwiML document the call followed (for assertions)."""
    return [[v.tag for v in doc] for doc in call.documents]


def attributes(call: Call, tag: str) -> dict[str, Any]:
    """The attributes of the first ``tag`` element the call met."""
    for doc in call.documents:
        found = doc.find(tag)
        if found is not None:
            return dict(found.attrib)
    return {}


# --- the Messages API (texts), the REST side callpath calls ---------------------------


@dataclass
class Message:
    """A text callpath asked the stand-in to send."""

    sid: str
    to: str
    body: str
    sender: str  # From, or the Messaging Service SID
    status_callback: str
    status: str = "queued"


class MessagesApi:
    """Twilio's Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``).

    An ASGI app: in-process tests hand :attr:`transport` to the app
    (``app.state.twilio_transport``); :meth:`serve` runs it on a loopback port for a real
    server (``CALLPATH_TWILIO_API_URL``). It checks the account's basic auth and the
    fields Twilio requires, keeps what was sent, and can refuse the next texts with a
    Twilio error code.
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        from starlette.applications import Starlette
        from starlette.routing import Route

        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[Message] = []
        self.refusals: list[tuple[int, int]] = []  # (HTTP status, Twilio code) to answer next
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"])
            ]
        )

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport reaching this API in-process."""
        return httpx.ASGITransport(app=self.app)

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the API on a free loopback port (for a real server); yield its base URL."""
        import socket
        import threading
        import time

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=5)

    def to(self, number: str) -> list[Message]:
        """The texts sent to ``number``."""
        return [m for m in self.messages if m.to == number]

    async def _create(self, request: Any) -> Any:
        import base64
        import secrets

        from starlette.responses import JSONResponse

        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        if request.path_params["sid"] != self.account_sid:
            return JSONResponse({"code": 20404, "message": "Not found", "status": 404}, 404)
        form = await request.form()
        sender = form.get("From") or form.get("MessagingServiceSid") or ""
        if not form.get("To") or not form.get("Body") or not sender:
            return JSONResponse(
                {"code": 21604, "message": "A 'To', 'Body' and 'From' are required", "status": 400},
                400,
            )
        if self.refusals:
            status, code = self.refusals.pop(0)
            return JSONResponse({"code": code, "message": "refused", "status": status}, status)
        message = Message(
            sid="SM" + secrets.token_hex(16),
            to=str(form["To"]),
            body=str(form["Body"]),
            sender=str(sender),
            status_callback=str(form.get("StatusCallback", "")),
        )
        self.messages.append(message)
        return JSONResponse(
            {
                "sid": message.sid,
                "account_sid": self.account_sid,
                "to": message.to,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": message.body,
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "api_version": "2010-04-01",
            },
            201,
        )


async def message_status(
    client: httpx.AsyncClient, auth_token: str, message: Message, status: str, error_code: str = ""
) -> httpx.Response:
    """Twilio's delivery status callback for ``message`` (signed), to its StatusCallback."""
    params = {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": message.to,
        "From": message.sender,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return await _signed_post(client, auth_token, message.status_callback, params)


async def inbound_text(
    client: httpx.AsyncClient, auth_token: str, url: str, *, sender: str, to: str, body: str
) -> httpx.Response:
    """A text someone sends to one of callpath's numbers (Twilio's incoming-message webhook)."""
    params = {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": "SM" + "1" * 32,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    return await _signed_post(client, auth_token, url, params)


async def _signed_post(
    client: httpx.AsyncClient, auth_token: str, url: str, params: dict[str, str]
) -> httpx.Response:
    signature = RequestValidator(auth_token).compute_signature(url, params)
    return await client.post(url, data=params, headers={"X-Twilio-Signature": str(signature)})


class TwilioRest:
    """Twilio's REST API for recordings, on a loopback port (callpath fetches over HTTP).

    ``add_recording`` puts a file at ``/2010-04-01/Accounts/<sid>/Recordings/<RE>.wav``; a
    request without the account's basic-auth credentials gets 401 as at Twilio, and
    ``fail_next`` answers 500 that many times first (a carrier having a bad minute).
    ``requests`` lists the paths asked for (``DELETE <path>`` for a deletion, which removes
    the recording as Twilio's ``DELETE …/Recordings/<RE>.json`` does). Use as a context
    manager.
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.account_sid = account_sid
        self.media: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.fail_next = 0
        expected = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        rest = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rest.requests.append(self.path)
                if self.headers.get("Authorization") != expected:
                    self._answer(401, b'{"code": 20003}', "application/json")
                elif rest.fail_next > 0:
                    rest.fail_next -= 1
                    self._answer(500, b'{"code": 20500}', "application/json")
                elif self.path in rest.media:
                    self._answer(200, rest.media[self.path], "audio/x-wav")
                else:
                    self._answer(404, b'{"code": 20404}', "application/json")

            def do_DELETE(self) -> None:
                rest.requests.append("DELETE " + self.path)
                media = self.path.removesuffix(".json") + ".wav"
                if self.headers.get("Authorization") != expected:
                    self._answer(401, b'{"code": 20003}', "application/json")
                elif rest.media.pop(media, None) is None:
                    self._answer(404, b'{"code": 20404}', "application/json")
                else:
                    self._answer(204, b"", "application/json")

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def recording_url(self, sid: str) -> str:
        """The ``RecordingUrl`` Twilio's callback names for a recording."""
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    def add_recording(self, sid: str, wav: bytes) -> str:
        """Serve ``wav`` as recording ``sid``; its ``RecordingUrl``."""
        url = self.recording_url(sid)
        self.media[url[len(self.url) :] + ".wav"] = wav
        return url

    def __enter__(self) -> TwilioRest:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
