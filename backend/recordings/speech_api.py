"""The ``openai`` engine: a cloud speech API that speaks OpenAI's transcription protocol.

Each channel of a recording (0: the caller, 1: the business; a mono recording whole) is
made a 16 kHz mono mp3 and sent as ``POST {CALLPATH_TRANSCRIPTION_API_URL}/audio/
transcriptions`` (``multipart/form-data``: ``file``, ``model``, ``response_format=
verbose_json``, ``timestamp_granularities[]=segment``, ``temperature=0`` and, when set,
``language``), with ``Authorization: Bearer <CALLPATH_TRANSCRIPTION_API_KEY>``. Each of the
answer's ``segments`` (``start`` and ``end`` in seconds, ``text``) becomes a line of that
channel, so two channels give the speaker turns; the answer's ``language`` is kept. A model
that answers only ``text`` (no segments) gives one line for the channel, timed from 0 to
the answer's ``duration``. Any other answer is an error the job retries
(:mod:`backend.recordings.providers`).

What leaves the server: the audio of each channel, to the configured URL only
(docs/privacy.md).
"""

from __future__ import annotations

from typing import Any

import httpx

from backend.recordings import media
from backend.recordings.providers import ProviderError, endpoint, post
from backend.recordings.transcribe import Line, Transcript

UPLOAD_MAX = 25 * 1024 * 1024  # what OpenAI's endpoint accepts in one file
LANGUAGE_MAX = 32
TEXT_MAX = 4000  # one segment's text kept


class SpeechApi:
    """An OpenAI-compatible ``/audio/transcriptions`` endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        model: str,
        language: str = "",
        timeout_s: float = 300.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = endpoint(base_url, "audio/transcriptions")
        self.api_key = api_key
        self.model = model
        self.language = language.strip().lower()
        self.timeout_s = timeout_s
        self.client = client or httpx.AsyncClient()
        self._own_client = client is None

    async def transcribe(self, audio: bytes, channels: int) -> Transcript:
        """Each channel sent on its own; the lines of all, in time order."""
        lines: list[Line] = []
        language = ""
        for channel in range(channels) if channels > 1 else [None]:
            sound = await media.mono_mp3(audio, channel)
            if len(sound) > UPLOAD_MAX:
                raise ProviderError(
                    f"channel {channel or 0} is {len(sound)} bytes as mp3, over the API's"
                    f" {UPLOAD_MAX} byte limit"
                )
            form = {
                "model": self.model,
                "response_format": "verbose_json",
                "timestamp_granularities[]": "segment",
                "temperature": "0",
            }
            if self.language:
                form["language"] = self.language
            answer = await post(
                self.client,
                self.url,
                api_key=self.api_key,
                timeout_s=self.timeout_s,
                data=form,
                files={"file": (f"channel-{channel or 0}.mp3", sound, "audio/mpeg")},
            )
            found, said = read_answer(answer, channel or 0)
            lines += found
            language = language or said
        return Transcript(sorted(lines, key=lambda x: (x.start_ms, x.channel)), language)

    def close(self) -> None:
        """Nothing held between requests (the client is closed with the app's)."""


def _ms(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ProviderError(f"the transcription's {what} is not a time in seconds: {value!r}")
    return round(value * 1000)


def read_answer(answer: dict[str, Any], channel: int) -> tuple[list[Line], str]:
    """The lines of one channel's ``verbose_json`` answer and its language; ProviderError
    for an answer that is not one."""
    language = answer.get("language", "")
    language = language.strip().lower()[:LANGUAGE_MAX] if isinstance(language, str) else ""
    segments = answer.get("segments")
    if segments is None:
        text = answer.get("text")
        if not isinstance(text, str):
            raise ProviderError("the transcription has neither segments nor text")
        end = _ms(answer.get("duration", 0) or 0, "duration")
        line = [Line(channel, 0, end, text.strip()[:TEXT_MAX])] if text.strip() else []
        return line, language
    if not isinstance(segments, list):
        raise ProviderError("the transcription's segments are not a list")
    lines = []
    for s in segments:
        if not isinstance(s, dict) or not isinstance(s.get("text"), str):
            raise ProviderError("a segment of the transcription has no text")
        start, end = _ms(s.get("start"), "segment start"), _ms(s.get("end"), "segment end")
        text = s["text"].strip()[:TEXT_MAX]
        if text:
            lines.append(Line(channel, start, max(start, end), text))
    return lines, language
