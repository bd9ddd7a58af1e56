"""Transcription: engines behind one interface, and the durable job that runs them.

An engine turns audio into timed lines and the language it heard (:class:`Engine`). The
install chooses one (``CALLPATH_TRANSCRIPTION_ENGINE``, :func:`engine_from_settings`):
:class:`PocketSphinx`, whose English model is inside its Python package, so the whole path
runs on a laptop and in the tests with nothing downloaded; ``openai``, a cloud speech API
(:mod:`backend.recordings.speech_api`); ``faster-whisper`` with a model folder the operator
installed (:mod:`backend.recordings.whisper`). A dual-channel recording is transcribed
channel by channel (0: the caller, 1: the business), which gives the speaker turns.

:func:`transcribe_one` takes the next stored recording due, transcribes it, masks numbers,
keeps its lines, indexes it for search and runs the advertiser's phrase rules, in one unit
of work; a failure is retried like a fetch (:mod:`backend.recordings.jobs`). When the
install has a summary provider, the same unit queues the recording's summary job
(:mod:`backend.recordings.summary`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from attribution import transcripts
from backend.recordings import jobs, media
from backend.recordings.storage import RecordingStorage
from pool.store import Store, now_ms

if TYPE_CHECKING:
    from backend.settings import Settings

log = logging.getLogger("callpath.recordings")
LINE_GAP_MS = 600  # a pause this long starts a new line
LINE_WORDS = 14


@dataclass(frozen=True)
class Line:
    """What one side said, from ``start_ms`` to ``end_ms`` after the recording began."""

    channel: int
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Transcript:
    """An engine's lines in time order, and the language it heard ('' when unknown)."""

    lines: list[Line]
    language: str = ""


class Engine(Protocol):
    """A transcription engine."""

    name: str

    async def transcribe(self, audio: bytes, channels: int) -> Transcript:
        """The lines of a recording (any format ffmpeg reads), in time order."""

    def close(self) -> None:
        """Let go of what the engine holds (processes, clients)."""


_ALTERNATE = re.compile(r"\(\d+\)$")  # pocketsphinx marks a word's other pronunciation


class PocketSphinx:
    """CMU PocketSphinx 5 with the US English model its package ships.

    Decoding holds the interpreter lock for seconds at a time, so it runs in a process of
    its own (one, started on first use): the server's event loop, which answers the
    carriers' webhooks, is never held by it.
    """

    name = "pocketsphinx"

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def transcribe(self, audio: bytes, channels: int) -> Transcript:
        """Each channel decoded on its own, in the decoding process (US English)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        lines: list[Line] = []
        for channel in range(channels) if channels > 1 else [None]:
            samples = await media.pcm(audio, channel)
            found = await loop.run_in_executor(self._pool, _decode, samples, channel or 0)
            lines += [Line(*x) for x in found]
        return Transcript(sorted(lines, key=lambda line: (line.start_ms, line.channel)), "en")

    def close(self) -> None:
        """Stop the decoding process."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _decode(samples: bytes, channel: int) -> list[tuple[int, int, int, str]]:
    """Lines of 16 kHz mono samples as (channel, start ms, end ms, text): run in the
    decoding process."""
    from pocketsphinx import Decoder, Segmenter

    decoder = Decoder(samprate=media.SAMPLE_RATE, loglevel="FATAL")
    frame_ms = 1000 // int(decoder.config["frate"])
    lines: list[tuple[int, int, int, str]] = []
    for segment in Segmenter(sample_rate=media.SAMPLE_RATE).segment(io.BytesIO(samples)):
        decoder.start_utt()
        decoder.process_raw(segment.pcm, full_utt=True)
        decoder.end_utt()
        offset = int(segment.start_time * 1000)
        words: list[tuple[int, int, str]] = []
        for seg in decoder.seg():
            word = _ALTERNATE.sub("", seg.word)
            if word.startswith(("<", "[")):
                continue
            words.append((offset + seg.start_frame * frame_ms,
                          offset + seg.end_frame * frame_ms, word))  # fmt: skip
        current: list[tuple[int, int, str]] = []
        for w in words:
            if current and (w[0] - current[-1][1] >= LINE_GAP_MS or len(current) >= LINE_WORDS):
                lines.append(_line(channel, current))
                current = []
            current.append(w)
        if current:
            lines.append(_line(channel, current))
    return lines


def _line(channel: int, words: list[tuple[int, int, str]]) -> tuple[int, int, int, str]:
    return (channel, words[0][0], words[-1][1], " ".join(w[2] for w in words))


def engine_from_settings(settings: Settings, client: httpx.AsyncClient) -> Engine | None:
    """The engine the install chose, or None for 'off'; ValueError (naming the setting)
    for a choice its settings do not complete."""
    name = settings.transcription_engine
    if name == "pocketsphinx":
        return PocketSphinx()
    if name == "openai":
        from backend.recordings.speech_api import SpeechApi

        return SpeechApi(
            settings.transcription_api_url,
            api_key=settings.transcription_api_key,
            model=settings.transcription_api_model,
            language=settings.transcription_language,
            timeout_s=settings.transcription_timeout_seconds,
            client=client,
        )
    if name == "faster-whisper":
        from backend.recordings.whisper import FasterWhisper

        return FasterWhisper(settings.transcription_model_dir, settings.transcription_language)
    return None


async def transcribe_one(
    db: Store,
    storage: RecordingStorage,
    engine: Engine,
    *,
    attempts: int,
    summarise: bool = False,
    now: int | None = None,
) -> bool | None:
    """Transcribe the next recording due: True done, False failed this try, None none due."""
    now = now_ms() if now is None else now
    row = await jobs.claim(db, jobs.TRANSCRIBE, now)
    if row is None:
        return None
    try:
        audio = await storage.get(row["original_key"])
        said = await engine.transcribe(audio, int(row["channels"]) or 1)
    except Exception as exc:  # retried later; the reason is kept on the row
        log.warning("recording %s: transcription failed: %s", row["id"], exc)
        await jobs.failed(db, jobs.TRANSCRIBE, row, str(exc) or type(exc).__name__, now=now,
                          attempts=attempts)  # fmt: skip
        return False
    await _keep(db, row, engine.name, said, now, summarise=summarise)
    return True


async def _keep(db: Store, row: dict[str, Any], engine: str, said: Transcript, now: int, *,
                summarise: bool) -> None:  # fmt: skip
    """The lines (numbers masked), the search index and the rules, in one unit of work."""
    masked = [
        Line(x.channel, x.start_ms, x.end_ms, transcripts.mask_numbers(x.text)) for x in said.lines
    ]
    async with db.write() as tx:
        state = await tx.fetchval(
            "SELECT transcript_status FROM recordings WHERE id = :id", {"id": row["id"]}
        )
        if state != jobs.TRANSCRIBE.working:
            return  # its claim lapsed and another worker has it
        await tx.execute("DELETE FROM transcript_lines WHERE recording_id = :id", {"id": row["id"]})
        await tx.executemany(
            "INSERT INTO transcript_lines (recording_id, call_id, channel, start_ms, end_ms, text)"
            " VALUES (:r, :c, :ch, :s, :e, :t)",
            [
                {"r": row["id"], "c": row["call_id"], "ch": x.channel, "s": x.start_ms,
                 "e": x.end_ms, "t": x.text}
                for x in masked
            ],
        )  # fmt: skip
        advertiser = await tx.fetchval(
            "SELECT advertiser_id FROM calls WHERE id = :c", {"c": row["call_id"]}
        )
        text = await transcripts.store_transcript(
            tx,
            call_id=row["call_id"],
            advertiser_id=advertiser,
            texts=[x.text for x in masked],
            now_ms=now,
        )
        await transcripts.apply_rules(tx, call_id=row["call_id"], normalised=text, now_ms=now)
        await tx.execute(
            "UPDATE recordings SET transcript_status = 'done', transcript_engine = :e,"
            " transcript_error = '', transcribed_ms = :t, claimed_until_ms = 0,"
            " transcript_language = :lang, summary_status = :ss, summary_next_ms = :t"
            " WHERE id = :id",
            {"e": engine, "t": now, "id": row["id"], "lang": said.language[:32],
             "ss": "pending" if summarise and masked else ""},
        )  # fmt: skip
