"""A Twilio stand-in for tests: plays Twilio's part of a call against callpath.

It requests the voice URL with parameters signed by the official ``twilio`` library, then
follows the TwiML the way Twilio does — ``<Gather>`` (digits, timeout, action, falling
through to the next verb without digits), ``<Redirect>``, ``<Dial>`` and its action,
``<Say>``, ``<Play>``, ``<Pause>``, ``<Reject>``, ``<Hangup>`` — and sends the status
callback at the end. Every document is checked against Twilio's vocabulary (a verb or an
attribute Twilio does not know fails the test).

Time is kept, not spent: :class:`Call.waited_s` adds up how long the caller would wait
before being put through (a ``<Gather>`` that hears nothing costs its ``timeout``; one
that hears the digits costs the phone's pause and the digits' tones), so a test asserts
the wait without sleeping.
"""

from __future__ import annotations

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
    "Number": {"url", "method", "sendDigits", "statusCallback", "statusCallbackEvent"},
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Reject": {"reason"},
    "Hangup": set(),
}
# A DTMF tone and the gap after it, as phones send post-dial digits.
TONE_S = 0.2


def check_vocabulary(root: ET.Element) -> None:
    """Fail on any element or attribute outside Twilio's vocabulary."""
    assert root.tag == "Response", root.tag
    for element in root.iter():
        assert element.tag in VOCABULARY, f"<{element.tag}> is not TwiML"
        unknown = set(element.attrib) - VOCABULARY[element.tag]
        assert not unknown, f"<{element.tag}> has attributes Twilio does not know: {unknown}"


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


class TwilioStandIn:
    """Twilio's side of calls to one callpath app (an httpx client pointed at it)."""

    def __init__(self, client: httpx.AsyncClient, auth_token: str, base: str) -> None:
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.base = base.rstrip("/")

    async def _post(self, call: Call, url: str, params: dict[str, str]) -> httpx.Response:
        if url.startswith("/"):
            url = self.base + url
        signature = self.validator.compute_signature(url, params)
        call.requests.append((url, dict(params)))
        path = url[len(self.base) :] if url.startswith(self.base) else url
        return await self.client.post(
            path, data=params, headers={"X-Twilio-Signature": str(signature)}
        )

    async def call(
        self,
        *,
        to: str,
        caller: str,
        sid: str,
        post_dial: str = "",
        pause_s: float = 2.0,
        answered: bool = True,
    ) -> Call:
        """One incoming call. ``post_dial``: digits the phone sends ``pause_s`` seconds after
        the call is answered (a ``tel:`` link's ``,4821``); '' for a caller dialling by hand."""
        call = Call(sid)
        params: dict[str, str] = {
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
        response = await self._post(call, "/twilio/voice", params)
        pending = post_dial
        for _ in range(10):  # redirects followed at most this many times
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/xml")
            root = ET.fromstring(response.content)
            check_vocabulary(root)
            call.documents.append(root)
            params["CallStatus"] = "in-progress"
            nxt: tuple[str, dict[str, str]] | None = None
            for verb in root:
                if verb.tag == "Gather":
                    timeout = float(verb.get("timeout", "5"))
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
                elif verb.tag == "Pause":
                    call.waited_s += float(verb.get("length", "1"))
                elif verb.tag == "Dial":
                    number = verb.find("Number")
                    call.dialled = (number.text if number is not None else verb.text) or ""
                    action = verb.get("action")
                    if action:
                        status = "completed" if answered else "no-answer"
                        await self._post(
                            call,
                            action,
                            {**params, "DialCallStatus": status, "DialCallDuration": "30"},
                        )
                    break
                elif verb.tag in ("Reject", "Hangup"):
                    call.rejected = verb.tag == "Reject"
                    break
            if nxt is None:
                break
            response = await self._post(call, nxt[0], nxt[1])
        await self._post(
            call,
            "/twilio/status",
            {**params, "CallStatus": "completed", "CallDuration": "35"},
        )
        return call


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
