"""Spoken call recordings for tests, made with Debian's espeak-ng and sox.

:func:`two_party_wav` speaks one English sentence per side and puts them on the two
channels of one 8 kHz 16-bit WAV, the way Twilio records a dual-channel call (channel 0:
the caller, channel 1: the business).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path


def spoken_wav(text: str, path: Path, rate: int = 8000) -> Path:
    """``text`` spoken (US English) as a mono WAV at ``rate`` Hz."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-b", "16", str(path)], check=True)
    raw.unlink()
    return path


def two_party_wav(caller: str, business: str) -> bytes:
    """A two-channel call recording: ``caller`` on channel 0, ``business`` on channel 1."""
    with tempfile.TemporaryDirectory() as folder:
        d = Path(folder)
        left = spoken_wav(caller, d / "caller.wav")
        right = spoken_wav(business, d / "business.wav")
        out = d / "call.wav"
        # -M merges the inputs as channels; the shorter side is padded with silence.
        subprocess.run(["sox", "-M", str(left), str(right), str(out)], check=True)
        return out.read_bytes()
