"""Uploaded prompt audio: checked on the way in, served to Twilio at signed, expiring URLs.

An advertiser uploads an mp3 or wav file (at most :data:`MAX_BYTES`); it is refused unless
its bytes are that kind of file (the name and the declared type are not trusted). A flow's
prompt names it (``{"audio": 12}``); the answer plays it from
``/twilio/audio/12?exp=…&sig=…``, a URL signed with the server's secret that works for
:data:`URL_LIFE_S` seconds, so a recording of one advertiser is never an open download.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from pool.store import Store, Tx, now_ms

MAX_BYTES = 5 * 1024 * 1024
URL_LIFE_S = 3600
PATH = "/twilio/audio"
_PURPOSE = b"callpath.flow.audio"


class AudioError(ValueError):
    """A file that is not an mp3 or wav callpath accepts."""


def kind_of(data: bytes) -> str:
    """The content type of ``data`` judged by its bytes (AudioError: neither mp3 nor wav)."""
    if len(data) > MAX_BYTES:
        raise AudioError(f"a prompt's audio is at most {MAX_BYTES // (1024 * 1024)} MB")
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    # An ID3 tag, or an MPEG audio frame sync (11 bits set) of layer III.
    if data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE6) == 0xE2):
        return "audio/mpeg"
    raise AudioError("only mp3 or wav audio is accepted")


async def store(db: Store, *, advertiser_id: int, name: str, data: bytes) -> dict[str, Any]:
    """Check and keep an uploaded file; what the API answers about it."""
    content_type = kind_of(data)
    row = {
        "a": advertiser_id,
        "n": name[:100],
        "ct": content_type,
        "b": len(data),
        "h": hashlib.sha256(data).hexdigest(),
        "d": base64.b64encode(data).decode(),
        "t": now_ms(),
    }
    async with db.write() as tx:
        audio_id = await tx.fetchval(
            "INSERT INTO flow_audio (advertiser_id, name, content_type, bytes, sha256, data,"
            " created_ms) VALUES (:a, :n, :ct, :b, :h, :d, :t) RETURNING id",
            row,
        )
    return {
        "id": int(audio_id),
        "advertiser_id": advertiser_id,
        "name": row["n"],
        "content_type": content_type,
        "bytes": len(data),
        "sha256": row["h"],
        "created_ms": row["t"],
    }


LIST_SQL = "SELECT id, advertiser_id, name, content_type, bytes, sha256, created_ms FROM flow_audio"


async def owners(db: Store | Tx, ids: set[int]) -> dict[int, int]:
    """Audio id -> its advertiser, for the ids that exist."""
    out: dict[int, int] = {}
    for audio_id in sorted(ids)[:50]:
        owner = await db.fetchval(
            "SELECT advertiser_id FROM flow_audio WHERE id = :i", {"i": audio_id}
        )
        if owner is not None:
            out[audio_id] = int(owner)
    return out


def _mac(secret: str, audio_id: int, expires: int) -> str:
    key = hashlib.sha256(_PURPOSE + secret.encode()).digest()
    return hmac.new(key, f"{audio_id}.{expires}".encode(), "sha256").hexdigest()[:32]


def signed_url(base: str, secret: str, audio_id: int, *, now_s: float | None = None) -> str:
    """Where Twilio fetches audio ``audio_id`` for the next :data:`URL_LIFE_S` seconds."""
    expires = int((now_s if now_s is not None else time.time()) + URL_LIFE_S)
    return f"{base}{PATH}/{audio_id}?exp={expires}&sig={_mac(secret, audio_id, expires)}"


def valid(secret: str, audio_id: int, exp: str, sig: str, *, now_s: float | None = None) -> bool:
    """Whether a signed URL's ``exp`` and ``sig`` are this server's and not expired."""
    if not exp.isdigit() or len(exp) > 12 or len(sig) != 32:
        return False
    if int(exp) < (now_s if now_s is not None else time.time()):
        return False
    return hmac.compare_digest(sig, _mac(secret, audio_id, int(exp)))


async def read(db: Store, audio_id: int) -> tuple[str, bytes] | None:
    """(content type, bytes) of a stored file, or None."""
    row = await db.fetchone(
        "SELECT content_type, data FROM flow_audio WHERE id = :i", {"i": audio_id}
    )
    if row is None:
        return None
    return str(row["content_type"]), base64.b64decode(row["data"])
