"""Fetching a recording from the carrier into callpath's own storage, once.

The recording callback queues a row in ``recordings`` (``backend.telephony.calls``, in the
unit of work that stores the URL). :func:`fetch_one` takes the next one due, downloads the
media with the account's credentials (HTTP basic auth: account SID and auth token, as
Twilio's REST API asks), keeps the original and its mp3 in the storage, with duration and
channels, and marks the row stored: a stored recording is never fetched again. A failed
try is retried later (:mod:`backend.recordings.jobs`).

Only a URL under the configured Twilio API base is fetched: the credentials are never sent
to another host, whatever a callback says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from backend.recordings import jobs, media
from backend.recordings.storage import RecordingStorage
from backend.settings import Settings
from pool.store import Store, now_ms

log = logging.getLogger("callpath.recordings")
MAX_BYTES = 200 * 1024 * 1024  # four hours of two-channel 8 kHz WAV, with room
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}


@dataclass(frozen=True)
class Carrier:
    """Where recordings are fetched from and with what credentials."""

    api_url: str
    account_sid: str
    auth_token: str
    delete_after: bool = False  # delete at the carrier once stored

    @classmethod
    def from_settings(cls, settings: Settings) -> Carrier | None:
        """Twilio's, or None when callpath has no account to fetch with."""
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            return None
        return cls(
            settings.twilio_api_url.rstrip("/"),
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.recording_delete_at_carrier,
        )

    def media_url(self, source_url: str, ext: str = ".wav") -> str:
        """The WAV media (or another form) of a recording resource URL (ValueError for a
        foreign host)."""
        if not source_url.startswith(self.api_url + "/"):
            raise ValueError("the recording is not at the configured Twilio API")
        base = source_url.split("?", 1)[0]
        for known in (".json", ".wav", ".mp3"):
            base = base.removesuffix(known)
        return base + ext

    async def delete(self, client: httpx.AsyncClient, source_url: str) -> str:
        """Delete the recording at the carrier; '' when done, else why not."""
        try:
            answer = await client.delete(
                self.media_url(source_url, ".json"), auth=(self.account_sid, self.auth_token)
            )
        except (httpx.HTTPError, ValueError) as exc:
            return f"not deleted at the carrier: {exc}"
        if answer.status_code not in (204, 404):  # 404: gone already
            return f"not deleted at the carrier: it answered {answer.status_code}"
        return ""

    async def download(self, client: httpx.AsyncClient, source_url: str) -> bytes:
        """The recording's bytes (httpx drops the credentials on a redirect elsewhere)."""
        url = self.media_url(source_url)
        async with client.stream(
            "GET", url, auth=(self.account_sid, self.auth_token), follow_redirects=True
        ) as answer:
            if answer.status_code != 200:
                raise RuntimeError(f"the carrier answered {answer.status_code}")
            chunks, size = [], 0
            async for chunk in answer.aiter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise RuntimeError("the recording is larger than callpath keeps")
                chunks.append(chunk)
        return b"".join(chunks)


def keys(call_id: int, sid: str, fmt: str) -> tuple[str, str]:
    """The storage keys of a recording's original and its mp3."""
    safe = "".join(c for c in sid if c.isalnum())[:64] or "recording"
    return f"calls/{call_id}/{safe}.{fmt}", f"calls/{call_id}/{safe}.mp3"


async def fetch_one(
    db: Store,
    storage: RecordingStorage,
    carrier: Carrier,
    client: httpx.AsyncClient,
    *,
    attempts: int,
    transcribe: bool,
    now: int | None = None,
) -> bool | None:
    """Fetch the next recording due: True stored, False failed this try, None none due."""
    now = now_ms() if now is None else now
    row = await jobs.claim(db, jobs.FETCH, now)
    if row is None:
        return None
    try:
        data = await carrier.download(client, row["source_url"])
        fmt = media.sniff(data)
        if not fmt:
            raise RuntimeError("the carrier's answer is not audio callpath knows")
        info = await media.probe(data)
        original, mp3 = keys(row["call_id"], row["source_sid"], fmt)
        await storage.put(original, data, CONTENT_TYPES[fmt])
        if fmt == "mp3":
            mp3 = original
        elif media.has_ffmpeg():
            await storage.put(mp3, await media.to_mp3(data), CONTENT_TYPES["mp3"])
        else:
            mp3 = ""  # no encoder on this server: the original alone is served
    except Exception as exc:  # any failure is retried; the reason is kept on the row
        log.warning("recording %s: fetch failed: %s", row["id"], exc)
        await jobs.failed(db, jobs.FETCH, row, str(exc) or type(exc).__name__, now=now,
                          attempts=attempts)  # fmt: skip
        return False
    await db.execute(
        "UPDATE recordings SET status = 'stored', storage = :storage, original_key = :o,"
        " original_type = :type, mp3_key = :m, duration_ms = :d, channels = :ch,"
        " size_bytes = :size, stored_ms = :t, last_error = '', claimed_until_ms = 0,"
        " transcript_status = :ts, transcript_next_ms = :t"
        " WHERE id = :id AND status = 'fetching'",
        {
            "storage": storage.name,
            "o": original,
            "type": CONTENT_TYPES[fmt],
            "m": mp3,
            "d": info.duration_ms,
            "ch": info.channels,
            "size": len(data),
            "t": now,
            "ts": "pending" if transcribe else "",
            "id": row["id"],
        },
    )
    if carrier.delete_after:
        problem = await carrier.delete(client, row["source_url"])
        if problem:
            log.warning("recording %s: %s", row["id"], problem)
            await db.execute(
                "UPDATE recordings SET last_error = :e WHERE id = :id",
                {"e": problem[: jobs.ERROR_MAX], "id": row["id"]},
            )
    return True
