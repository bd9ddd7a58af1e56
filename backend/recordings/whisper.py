"""The ``faster-whisper`` engine: Whisper on the server, from a model folder the operator
installed (``CALLPATH_TRANSCRIPTION_MODEL_DIR``); nothing is downloaded at run time.

The folder is a CTranslate2 conversion of a Whisper model (``model.bin``, ``config.json``
and ``tokenizer.json``; ``preprocessor_config.json`` when the model has one). Start-up
refuses a folder that is missing or lacks one of those files (:func:`check_model_dir`):
without ``tokenizer.json`` faster-whisper would fetch a tokenizer from the Hugging Face
hub, so it is required, and the decoding process runs with the hub switched off
(``HF_HUB_OFFLINE``) and ``local_files_only``. ``faster-whisper`` itself is the ``whisper``
extra (``pip install 'callpath[whisper]'``), imported only by the decoding process.

Decoding is CPU work that holds the interpreter lock: like PocketSphinx it runs in a
process of its own, started on first use, which loads the model once and keeps it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from backend.recordings import media
from backend.recordings.transcribe import Line, Transcript

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
SETTING = "transcription_model_dir (CALLPATH_TRANSCRIPTION_MODEL_DIR)"


def check_model_dir(folder: str) -> Path:
    """The model folder, or ValueError naming the setting and what is missing."""
    if not folder.strip():
        raise ValueError(f"setting {SETTING}: the faster-whisper engine needs a model folder")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"setting {SETTING}: no folder {str(path)!r}")
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ValueError(
            f"setting {SETTING}: {str(path)!r} is not a CTranslate2 Whisper model folder"
            f" (missing {', '.join(missing)}); nothing is downloaded at run time"
        )
    return path


class FasterWhisper:
    """faster-whisper with the install's model folder, in a decoding process of its own."""

    name = "faster-whisper"

    def __init__(self, model_dir: str, language: str = "") -> None:
        self.model_dir = str(check_model_dir(model_dir))
        self.language = language.strip().lower()
        self._pool: ProcessPoolExecutor | None = None

    async def transcribe(self, audio: bytes, channels: int) -> Transcript:
        """Each channel decoded on its own (speaker turns), in the decoding process."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_offline
            )
        loop = asyncio.get_running_loop()
        lines: list[Line] = []
        language = ""
        for channel in range(channels) if channels > 1 else [None]:
            samples = await media.pcm(audio, channel)
            found, said = await loop.run_in_executor(
                self._pool, _decode, self.model_dir, self.language, samples, channel or 0
            )
            lines += [Line(*x) for x in found]
            language = language or said
        return Transcript(sorted(lines, key=lambda x: (x.start_ms, x.channel)), language)

    def close(self) -> None:
        """Stop the decoding process."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _offline() -> None:
    """The decoding process never reaches the Hugging Face hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"


_MODELS: dict[str, Any] = {}


def _decode(
    model_dir: str, language: str, samples: bytes, channel: int
) -> tuple[list[tuple[int, int, int, str]], str]:
    """Lines of 16 kHz mono samples as (channel, start ms, end ms, text) and the language:
    run in the decoding process (the model is loaded on the first call and kept)."""
    import numpy as np
    from faster_whisper import WhisperModel

    model = _MODELS.get(model_dir)
    if model is None:
        model = WhisperModel(model_dir, device="cpu", compute_type="int8", local_files_only=True)
        _MODELS[model_dir] = model
    audio = np.frombuffer(samples, dtype=np.int16).astype(np.float32) / 32768.0
    segments, info = model.transcribe(audio, language=language or None, beam_size=5)
    lines = [
        (channel, int(s.start * 1000), int(s.end * 1000), s.text.strip())
        for s in segments
        if s.text.strip()
    ]
    return lines, str(info.language or "")
