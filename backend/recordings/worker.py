"""The recordings of one app: storage, carrier, engine, and the background round.

Built once at start-up (``app.state.recordings``); :meth:`Recordings.work` fetches every
recording due, one at a time, then transcribes every stored one due, one at a time (one
transcription per worker: it is CPU work). The server runs it every
``CALLPATH_RECORDING_JOBS_SECONDS`` (``backend.api.jobs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from backend.recordings import retention
from backend.recordings import storage as storages
from backend.recordings.fetch import Carrier, fetch_one
from backend.recordings.storage import RecordingStorage
from backend.recordings.transcribe import Engine, engine_named, transcribe_one
from backend.settings import Settings
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

    @classmethod
    def from_settings(cls, settings: Settings) -> Recordings:
        """The install's choices (no storage: recordings stay at the carrier)."""
        return cls(
            storage=storages.from_settings(settings),
            carrier=Carrier.from_settings(settings),
            engine=engine_named(settings.transcription_engine),
            client=httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)),
            attempts=settings.recording_fetch_attempts,
        )

    @property
    def active(self) -> bool:
        """Whether there is anything to fetch recordings into, and with."""
        return self.storage is not None and self.carrier is not None

    async def work(self, db: Store) -> tuple[int, int]:
        """One round: retention, then (recordings stored, recordings transcribed)."""
        stored = transcribed = 0
        if self.storage is None:
            return 0, 0
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
                done = await transcribe_one(db, self.storage, self.engine, attempts=self.attempts)
                if done is None:
                    break
                transcribed += int(done)
        return stored, transcribed

    async def close(self) -> None:
        """Close the HTTP client and the engine."""
        await self.client.aclose()
        if self.engine is not None:
            self.engine.close()
