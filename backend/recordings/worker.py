"""The recordings of one app: storage, carrier, engine, summariser, and the background round.

Built once at start-up (``app.state.recordings``); :meth:`Recordings.work` fetches every
recording due, one at a time, then transcribes every stored one due, one at a time (one
transcription per worker: it is CPU work), then summarises every transcript due when the
install has a summary provider. The server runs it every
``CALLPATH_RECORDING_JOBS_SECONDS`` (``backend.api.jobs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from backend.recordings import retention
from backend.recordings import storage as storages
from backend.recordings.fetch import Carrier, fetch_one
from backend.recordings.storage import RecordingStorage
from backend.recordings.summary import ChatSummariser, summarise_one
from backend.recordings.transcribe import Engine, engine_from_settings, transcribe_one
from backend.recordings.whisper import check_model_dir
from backend.settings import ENV_PREFIX, Settings
from pool.store import Store, now_ms

ROUND_MAX = 100  # jobs of each kind per round, so a backlog cannot hold one round forever


@dataclass
class Recordings:
    """What fetching, transcribing and serving recordings need."""

    storage: RecordingStorage | None
    carrier: Carrier | None
    engine: Engine | None
    client: httpx.AsyncClient
    attempts: int
    summariser: ChatSummariser | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Recordings:
        """The install's choices (no storage: recordings stay at the carrier); ValueError
        naming the setting when an engine or provider chosen lacks what it needs, so the
        server does not start half configured."""
        check_settings(settings)
        client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        summariser = None
        if settings.summary_engine == "openai":
            summariser = ChatSummariser(
                settings.summary_api_url,
                api_key=settings.summary_api_key,
                model=settings.summary_model,
                timeout_s=settings.summary_timeout_seconds,
                client=client,
            )
        return cls(
            storage=storages.from_settings(settings),
            carrier=Carrier.from_settings(settings),
            engine=engine_from_settings(settings, client),
            client=client,
            attempts=settings.recording_fetch_attempts,
            summariser=summariser,
        )

    @property
    def active(self) -> bool:
        """Whether there is anything to fetch recordings into, and with."""
        return self.storage is not None and self.carrier is not None

    async def work(self, db: Store) -> tuple[int, int, int]:
        """One round: retention, then (recordings stored, transcribed, summarised)."""
        stored = transcribed = summarised = 0
        if self.storage is None:
            return 0, 0, 0
        await retention.purge(db, self.storage, now=now_ms())
        if self.carrier is not None:
            for _ in range(ROUND_MAX):
                done = await fetch_one(
                    db, self.storage, self.carrier, self.client,
                    attempts=self.attempts, transcribe=self.engine is not None,
                )  # fmt: skip
                if done is None:
                    break
                stored += int(done)
        if self.engine is not None:
            for _ in range(ROUND_MAX):
                done = await transcribe_one(
                    db, self.storage, self.engine, attempts=self.attempts,
                    summarise=self.summariser is not None,
                )  # fmt: skip
                if done is None:
                    break
                transcribed += int(done)
        if self.summariser is not None:
            for _ in range(ROUND_MAX):
                done = await summarise_one(db, self.summariser, attempts=self.attempts)
                if done is None:
                    break
                summarised += int(done)
        return stored, transcribed, summarised

    async def close(self) -> None:
        """Close the HTTP client and the engine."""
        await self.client.aclose()
        if self.engine is not None:
            self.engine.close()


def check_settings(settings: Settings) -> None:
    """What the transcription engine and the summary provider chosen need: a base URL
    for an API, a model name for summaries, a model folder for faster-whisper."""
    if settings.transcription_engine == "openai":
        _need_url(settings.transcription_api_url, "transcription_api_url",
                  "the openai transcription engine needs")  # fmt: skip
    if settings.transcription_engine == "faster-whisper":
        check_model_dir(settings.transcription_model_dir)
    if settings.summary_engine == "openai":
        _need_url(settings.summary_api_url, "summary_api_url", "openai summaries need")
        if not settings.summary_model.strip():
            raise ValueError(
                f"setting summary_model ({ENV_PREFIX}SUMMARY_MODEL): openai summaries need"
                " a model name"
            )


def _need_url(value: str, name: str, what: str) -> None:
    """An http(s) base URL, or ValueError naming the setting."""
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError(
            f"setting {name} ({ENV_PREFIX}{name.upper()}): {what} the API's base URL"
            f" (http:// or https://, up to its version: https://host/v1), not {value!r}"
        )
