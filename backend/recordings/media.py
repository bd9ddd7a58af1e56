"""What a recording holds, and its other forms, through ffmpeg / ffprobe (Debian's ffmpeg).

Carriers send WAV (Twilio: 8 kHz, 16-bit, mono or two channels: caller and business).
callpath keeps that original and, when ffmpeg is installed, an mp3 of it (what people
download); without ffmpeg the original alone is kept and served.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from dataclasses import dataclass

SAMPLE_RATE = 16_000  # what the speech engines read


@dataclass(frozen=True)
class Media:
    """A recording's length and channels."""

    duration_ms: int
    channels: int


def has_ffmpeg() -> bool:
    """Whether ffmpeg is on the PATH (mp3 and decoding need it)."""
    return shutil.which("ffmpeg") is not None


async def _run(args: list[str], data: bytes) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(data)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {err.decode(errors='replace')[-300:]}")
    return out


def sniff(data: bytes) -> str:
    """The file's format from its bytes ('wav', 'mp3' or '')."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return ""


async def probe(data: bytes) -> Media:
    """Duration and channels: read from a WAV header directly, else by ffprobe."""
    if sniff(data) == "wav":
        try:
            with wave.open(io.BytesIO(data)) as w:
                rate = w.getframerate() or 1
                return Media(w.getnframes() * 1000 // rate, w.getnchannels())
        except (wave.Error, EOFError):
            pass  # a WAV the module cannot read (another encoding): ask ffprobe
    out = await _run(
        [
            "ffprobe", "-v", "error", "-show_entries", "stream=channels:format=duration",
            "-of", "default=noprint_wrappers=1", "-i", "pipe:0",
        ],
        data,
    )  # fmt: skip
    values = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    duration = float(values.get("duration", "0") or 0)
    return Media(int(duration * 1000), int(values.get("channels", "1") or 1))


async def to_mp3(data: bytes) -> bytes:
    """The recording as mp3 (channels kept), by ffmpeg's LAME encoder."""
    return await _run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-codec:a", "libmp3lame", "-q:a", "4",
         "-f", "mp3", "pipe:1"],
        data,
    )  # fmt: skip


async def pcm(data: bytes, channel: int | None = None) -> bytes:
    """16 kHz mono signed 16-bit samples of one channel (``None``: all channels mixed)."""
    args = ["ffmpeg", "-v", "error", "-i", "pipe:0"]
    if channel is not None:
        args += ["-af", f"pan=mono|c0=c{channel}"]
    args += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "pipe:1"]
    return await _run(args, data)


async def mono_mp3(data: bytes, channel: int | None = None) -> bytes:
    """One channel (``None``: all mixed) as a 16 kHz mono mp3 at 48 kb/s: what a speech API
    is sent (about 0.36 MB a minute, so an hour stays under the usual 25 MB upload limit)."""
    args = ["ffmpeg", "-v", "error", "-i", "pipe:0"]
    if channel is not None:
        args += ["-af", f"pan=mono|c0=c{channel}"]
    args += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-codec:a", "libmp3lame", "-b:a", "48k",
             "-f", "mp3", "pipe:1"]  # fmt: skip
    return await _run(args, data)
