"""Short-lived signed links to hear or download a recording, and what a call page shows.

A link is ``/recordings/<token>``: the token, signed with the server's secret for this
purpose only, names the recording, which file (``mp3`` or ``original``), whether it is a
download, and when it stops working (``CALLPATH_RECORDING_LINK_SECONDS``). It is made only
for someone who may see the call and hear recordings (the API and the dashboard check), so
the link itself is the permission, for a few minutes: an audio element and a download
need no cookie or header. An expired, forged or damaged token is refused (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attribution.tokens import Signer
from pool.store import Store

PATH = "/recordings/"
FILES = ("mp3", "original")


@dataclass(frozen=True)
class Link:
    """What a valid token grants."""

    recording_id: int
    file: str
    download: bool


def make(signer: Signer, recording_id: int, file: str, *, download: bool, expires_ms: int) -> str:
    """The path of a link that works until ``expires_ms``."""
    token = signer.sign({"r": recording_id, "f": file, "d": int(download), "e": expires_ms})
    return PATH + token


def read(signer: Signer, token: str, now_ms: int) -> Link | None:
    """What ``token`` grants, or None when it is forged, damaged or expired."""
    value = signer.read(token)
    if not isinstance(value, dict):
        return None
    r, f, d, e = value.get("r"), value.get("f"), value.get("d"), value.get("e")
    if not (isinstance(r, int) and f in FILES and d in (0, 1) and isinstance(e, int)):
        return None
    if now_ms >= e:
        return None
    return Link(r, str(f), bool(d))


async def for_call(
    db: Store, signer: Signer, call_id: int, *, now_ms: int, life_ms: int
) -> list[dict[str, Any]]:
    """A call's stored recordings with their links, transcript lines and summary (the
    caller has checked that the reader may see the call and hear recordings)."""
    rows = await db.fetchall(
        "SELECT id, kind, duration_ms, channels, mp3_key, original_type, transcript_status,"
        " stored_ms, summary_status, summary_text, summary_language, summary_outcome_id,"
        " summary_reason, summary_model FROM recordings"
        " WHERE call_id = :c AND status = 'stored' ORDER BY id",
        {"c": call_id},
    )
    out = []
    for r in rows:
        file = "mp3" if r["mp3_key"] else "original"
        expires = now_ms + life_ms
        lines = await db.fetchall(
            "SELECT channel, start_ms, end_ms, text FROM transcript_lines"
            " WHERE recording_id = :r ORDER BY start_ms, channel, id",
            {"r": r["id"]},
        )
        out.append(
            {
                "id": r["id"],
                "kind": r["kind"],
                "duration_ms": r["duration_ms"],
                "channels": r["channels"],
                "format": "mp3" if file == "mp3" else r["original_type"],
                "play_url": make(signer, r["id"], file, download=False, expires_ms=expires),
                "download_url": make(signer, r["id"], file, download=True, expires_ms=expires),
                "links_expire_ms": expires,
                "transcript_status": r["transcript_status"] or "none",
                "transcript": [dict(x) for x in lines],
                "summary": _summary(r),
            }
        )
    return out


def _summary(r: Any) -> dict[str, Any] | None:
    """The language model's summary of a recording, or None when none was asked for."""
    if not r["summary_status"]:
        return None
    return {
        "status": r["summary_status"],
        "text": r["summary_text"],
        "language": r["summary_language"],
        "outcome_id": r["summary_outcome_id"],
        "reason": r["summary_reason"],
        "model": r["summary_model"],
    }
