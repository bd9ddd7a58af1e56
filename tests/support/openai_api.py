"""An OpenAI-compatible API stand-in on a loopback port: speech to text and chat completions.

It checks requests the way OpenAI's API reference describes them and answers in its shapes:

- every request needs ``Authorization: Bearer <key>`` (else 401, ``invalid_api_key``);
- ``POST /v1/audio/transcriptions`` is ``multipart/form-data`` with ``file`` (one of flac,
  mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm by its name, at most 25 MB, audio ffprobe can
  read) and ``model`` (a known one); ``response_format`` one of json, text, srt,
  verbose_json, vtt; ``timestamp_granularities[]`` only with ``verbose_json``;
  ``temperature`` from 0 to 1. ``verbose_json`` answers ``task``, ``language`` (a name:
  ``english``), ``duration``, ``text`` and ``segments`` (``id``, ``seek``, ``start``,
  ``end``, ``text``, ``tokens``, ``temperature``, ``avg_logprob``, ``compression_ratio``,
  ``no_speech_prob``). What it hears is real: the file is decoded by ffmpeg and
  transcribed by PocketSphinx (the packaged engine) unless a test queued the segments;
- ``POST /v1/chat/completions`` is JSON with ``model`` and ``messages`` (each a ``role``
  of system, user or assistant and a text ``content``); ``response_format``
  ``{"type": "json_object"}`` needs the word "json" in the messages, as OpenAI requires.
  The answer's content is what the test's ``reply`` makes of the request.

``then(status, body, headers, delay_s, path)`` queues an answer for the next request (to
that path, or of either kind): a 429 with ``Retry-After``, a malformed body, a slow answer.
``requests`` keeps what came, parsed. Use as a context manager.
"""

from __future__ import annotations

import email.parser
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUDIO_TYPES = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")
FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
SPEECH_MODELS = ("whisper-1",)
UPLOAD_MAX = 25 * 1024 * 1024


@dataclass
class Seen:
    """One request as the stand-in read it."""

    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    file_name: str = ""
    file: bytes = b""
    body: Any = None


@dataclass
class Canned:
    status: int
    body: bytes
    headers: dict[str, str]
    delay_s: float
    path: str


def _error(message: str, kind: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def hear(audio: bytes) -> tuple[float, list[tuple[float, float, str]]]:
    """What PocketSphinx hears in a file: its duration and (start s, end s, text) lines."""
    from backend.recordings.transcribe import _decode

    samples = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-ac", "1", "-ar", "16000", "-f", "s16le",
         "pipe:1"],
        input=audio, capture_output=True, check=True,
    ).stdout  # fmt: skip
    lines = _decode(samples, 0)
    return len(samples) / 32000, [(s / 1000, e / 1000, text) for _, s, e, text in lines]


class OpenAIStandIn:
    """The stand-in server; ``url`` is its base (``http://127.0.0.1:<port>/v1``)."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.requests: list[Seen] = []
        self.queued: list[Canned] = []
        self.segments: list[list[tuple[float, float, str]]] = []
        self.heard: list[list[tuple[float, float, str]]] = []  # answered, request by request
        self.reply: Callable[[dict[str, Any]], str] = lambda body: "{}"
        self.chat_model = "summary-model"
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
                stand_in.requests.append(seen)
                if self.headers.get("Authorization") != f"Bearer {stand_in.api_key}":
                    return self._json(401, _error("Incorrect API key provided.",
                                                  code="invalid_api_key"))  # fmt: skip
                canned = next((c for c in stand_in.queued if c.path in ("", self.path)), None)
                if canned is not None:
                    stand_in.queued.remove(canned)
                    time.sleep(canned.delay_s)
                    return self._send(canned.status, canned.body, canned.headers)
                if self.path == "/v1/audio/transcriptions":
                    return self._transcribe(seen, raw)
                if self.path == "/v1/chat/completions":
                    return self._chat(seen, raw)
                return self._json(404, _error(f"Unknown request URL: POST {self.path}."))

            def _transcribe(self, seen: Seen, raw: bytes) -> None:
                kind = self.headers.get("Content-Type", "")
                if not kind.startswith("multipart/form-data"):
                    return self._json(400, _error("Expected multipart/form-data."))
                message = email.parser.BytesParser().parsebytes(
                    f"Content-Type: {kind}\r\n\r\n".encode() + raw
                )
                for part in message.get_payload():  # type: ignore[union-attr]
                    name = part.get_param("name", header="content-disposition")
                    data = part.get_payload(decode=True) or b""
                    if part.get_filename():
                        seen.file_name, seen.file = part.get_filename(), data
                    else:
                        seen.form[str(name)] = data.decode()
                form = seen.form
                if not seen.file_name:
                    return self._json(400, _error("Missing file.", param="file"))
                if seen.file_name.rsplit(".", 1)[-1] not in AUDIO_TYPES:
                    return self._json(400, _error("Invalid file format.", param="file"))
                if len(seen.file) > UPLOAD_MAX:
                    return self._json(413, _error("Maximum content size limit exceeded."))
                if form.get("model") not in SPEECH_MODELS:
                    return self._json(400, _error("Invalid model.", param="model"))
                shape = form.get("response_format", "json")
                if shape not in FORMATS:
                    return self._json(400, _error("Invalid response_format.",
                                                  param="response_format"))  # fmt: skip
                if "timestamp_granularities[]" in form and shape != "verbose_json":
                    return self._json(
                        400, _error("timestamp_granularities requires response_format=verbose_json")
                    )
                if not 0 <= float(form.get("temperature", "0")) <= 1:
                    return self._json(400, _error("Invalid temperature.", param="temperature"))
                probe = subprocess.run(
                    ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                     "csv=p=0", "-i", "pipe:0"],
                    input=seen.file, capture_output=True,
                )  # fmt: skip
                if probe.returncode != 0:
                    return self._json(400, _error("Audio file could not be decoded.",
                                                  param="file"))  # fmt: skip
                if stand_in.segments:
                    heard = stand_in.segments.pop(0)
                    duration = max((e for _, e, _ in heard), default=0.0)
                else:
                    duration, heard = hear(seen.file)
                stand_in.heard.append(heard)
                text = " ".join(t for _, _, t in heard)
                if shape != "verbose_json":
                    return self._json(200, {"text": text})
                segments = [
                    {"id": i, "seek": 0, "start": s, "end": e, "text": " " + t, "tokens": [],
                     "temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.2,
                     "no_speech_prob": 0.01}
                    for i, (s, e, t) in enumerate(heard)
                ]  # fmt: skip
                language = {"ja": "japanese"}.get(form.get("language", ""), "english")
                answer = {"task": "transcribe", "language": language, "duration": duration,
                          "text": text, "segments": segments}  # fmt: skip
                self._json(200, answer)

            def _chat(self, seen: Seen, raw: bytes) -> None:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._json(400, _error("We could not parse the JSON body."))
                seen.body = body
                if not isinstance(body, dict) or not isinstance(body.get("model"), str):
                    return self._json(400, _error("Missing model.", param="model"))
                messages = body.get("messages")
                if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                    and isinstance(m.get("content"), str) for m in messages
                ):  # fmt: skip
                    return self._json(400, _error("Invalid messages.", param="messages"))
                shape = body.get("response_format") or {"type": "text"}
                if shape.get("type") == "json_object" and not any(
                    "json" in m["content"].lower() for m in messages
                ):
                    return self._json(
                        400,
                        _error(
                            "'messages' must contain the word 'json' in some form, to use"
                            " 'response_format' of type 'json_object'.",
                            param="messages",
                        ),
                    )
                content = stand_in.reply(body)
                self._json(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })  # fmt: skip

            def _json(self, status: int, body: Any) -> None:
                self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def then(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
             delay_s: float = 0.0, path: str = "") -> None:  # fmt: skip
        """Answer the next request (to ``path``, or any) so (``body``: JSON, or bytes)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.queued.append(Canned(status, raw, headers or {}, delay_s, path))

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def __enter__(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
