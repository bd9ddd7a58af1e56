"""Transcription with the packaged engine (PocketSphinx): time per minute of audio, and the
pipeline's peak memory (issue #22).

Makes a two-channel call recording of about ``--seconds`` seconds with espeak-ng and sox
(English sentences on each side, as tests/support/speech.py makes them; ``make bench``
needs the ``audio`` target's packages), then:

1. engine: :class:`backend.recordings.transcribe.PocketSphinx` transcribes it ``--runs``
   times after one warm-up (which starts the decoding process and loads the model; its
   time is printed apart as the cold start). Printed: seconds per minute of the call
   (both channels decoded, one after the other) and per minute of one channel's audio,
   and the real-time factor (decoding time / audio time; below 1 is faster than the call).
2. pipeline: in a process of its own, the whole job as the server runs it on a fresh
   SQLite file: the recording stored in a local folder, claimed, read back, decoded by
   ffmpeg, transcribed in the decoding process, numbers masked, lines kept, indexed for
   search (FTS5) and the rules run (:func:`backend.recordings.transcribe.transcribe_one`).
   Printed: its time and the peak resident memory of that process and of its children
   (the decoding process, ffmpeg), from ``getrusage``.

    python -m bench.transcription [--seconds 60] [--runs 1]

Also printed: the pipeline's CPU time (decoder and ffmpeg) per minute of call, the figure
that does not depend on how busy the machine is. Target: faster than the call (CPU
real-time factor < 1) on one core, and the pipeline's
processes under 300 MB each, so a small server keeps transcription on the side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backend.recordings import media
from backend.recordings.transcribe import PocketSphinx

TARGET_RTF = 1.0
TARGET_MB = 300
# One side's words, said again until the side is as long as asked (about 2.5 words a second).
CALLER = (
    "Hello, I saw your advertisement and I would like to book an appointment for a"
    " cleaning. Do you have any time tomorrow morning or on Friday afternoon? My name is"
    " Taylor and I have been to your clinic once before."
)
BUSINESS = (
    "Thank you for calling the clinic. We can book your appointment for tomorrow morning"
    " at ten. Please bring your insurance card, and call us if you need to change the"
    " time. Is there anything else we can help you with today?"
)


def _side(text: str, seconds: float) -> str:
    words = text.split()
    wanted = int(seconds * 2.4)
    return " ".join(words[i % len(words)] for i in range(max(wanted, len(words))))


def make_recording(seconds: float) -> bytes:
    """A two-channel 8 kHz WAV of about ``seconds`` seconds (both sides speaking)."""
    from tests.support.speech import two_party_wav

    return two_party_wav(_side(CALLER, seconds), _side(BUSINESS, seconds))


async def engine_runs(audio: bytes, runs: int) -> dict[str, float]:
    """Cold start, then ``runs`` timed transcriptions of the same recording."""
    about = await media.probe(audio)
    engine = PocketSphinx()
    try:
        started = time.perf_counter()
        lines = await engine.transcribe(audio, about.channels)
        cold = time.perf_counter() - started
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await engine.transcribe(audio, about.channels)
            times.append(time.perf_counter() - started)
    finally:
        engine.close()
    minutes = about.duration_ms / 60_000
    warm = statistics.median(times)
    return {
        "minutes": minutes,
        "channels": about.channels,
        "cold_s": cold,
        "warm_s": warm,
        "per_call_minute_s": warm / minutes,
        "per_channel_minute_s": warm / (minutes * about.channels),
        "rtf": warm / (minutes * 60),
        "lines": len(lines),
    }


async def _pipeline(path: Path, audio: bytes) -> dict[str, float]:
    """The server's transcription job once, on a fresh database (run in its own process)."""
    from backend.recordings.storage import LocalStorage
    from backend.recordings.transcribe import transcribe_one
    from backend.storage import open_database
    from backend.storage.seed import SiteSpec, TenantSpec, seed_world

    folder = path.parent
    db = await open_database(f"sqlite:///{folder / 'bench.db'}")
    engine = PocketSphinx()
    try:
        seeded = await seed_world(db, [TenantSpec("Bench Clinic", [SiteSpec("bench")], [])])
        site = seeded.site("bench")
        about = await media.probe(audio)
        storage = LocalStorage(folder / "recordings")
        await storage.put("calls/1/RE1.wav", audio, "audio/wav")
        async with db.write() as tx:
            call = await tx.fetchval(
                "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id,"
                " tracking_number, caller, started_ms, status, created_ms, updated_ms)"
                " VALUES ('twilio', 'CA1', :a, :s, '+815017000001', '+819012345678', 0,"
                " 'completed', 0, 0) RETURNING id",
                {"a": seeded.tenant("Bench Clinic").advertiser_id, "s": site.site_id},
            )
            await tx.execute(
                "INSERT INTO recordings (call_id, source_sid, source_url, status, storage,"
                " original_key, original_type, duration_ms, channels, created_ms, stored_ms,"
                " transcript_status) VALUES (:c, 'RE1', '', 'stored', 'local',"
                " 'calls/1/RE1.wav', 'audio/wav', :d, :ch, 0, 0, 'pending')",
                {"c": call, "d": about.duration_ms, "ch": about.channels},
            )
        started = time.perf_counter()
        done = await transcribe_one(db, storage, engine, attempts=1)
        seconds = time.perf_counter() - started
        indexed = await db.fetchval("SELECT COUNT(*) FROM transcript_fts")
    finally:
        engine.close()  # joins the decoding process: its peak is in RUSAGE_CHILDREN now
        await db.close()
    assert done is True and indexed == 1, (done, indexed)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "minutes": about.duration_ms / 60_000,
        # Decoder and ffmpeg: the CPU the job costs, whatever else the machine is doing.
        "children_cpu_s": children.ru_utime + children.ru_stime,
        "self_mb": own.ru_maxrss / 1024,
        "children_mb": children.ru_maxrss / 1024,
    }


def pipeline_in_child(path: Path) -> dict[str, float]:
    """:func:`_pipeline` in a fresh interpreter: its memory is the pipeline's alone."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.transcription", "--pipeline-child", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transcription")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the call")
    parser.add_argument("--runs", type=int, default=1, help="timed runs after the warm-up")
    parser.add_argument("--pipeline-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pipeline_child:
        audio = args.pipeline_child.read_bytes()
        print(json.dumps(asyncio.run(_pipeline(args.pipeline_child, audio))))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "call.wav"
        path.write_bytes(make_recording(args.seconds))
        engine = asyncio.run(engine_runs(path.read_bytes(), args.runs))
        pipe = pipeline_in_child(path)
    print(
        f"recording: {engine['minutes'] * 60:.0f} s, {engine['channels']:.0f} channels"
        f" (espeak-ng, 8 kHz); {engine['lines']:.0f} lines transcribed"
    )
    print(
        f"PocketSphinx: {engine['per_call_minute_s']:.1f} s per minute of call"
        f" ({engine['per_channel_minute_s']:.1f} s per minute of one channel),"
        f" real-time factor {engine['rtf']:.2f}; median of {args.runs} runs, warm"
    )
    print(f"cold start (decoding process and model loaded, first run): {engine['cold_s']:.1f} s")
    cpu = pipe["children_cpu_s"] / pipe["minutes"]
    print(
        f"pipeline CPU (decoder and ffmpeg, user + system): {cpu:.1f} s per minute of call,"
        f" real-time factor {cpu / 60:.2f} on one core (the wall-clock figures above also"
        " count waiting for a busy machine)"
    )
    print(
        f"pipeline (fetch from storage to rules, one job): {pipe['seconds']:.1f} s;"
        f" peak memory {pipe['self_mb']:.0f} MB (server process),"
        f" {pipe['children_mb']:.0f} MB (largest child: decoder or ffmpeg)"
    )
    fast = cpu / 60 < TARGET_RTF
    small = max(pipe["self_mb"], pipe["children_mb"]) < TARGET_MB
    print(f"target CPU real-time factor < {TARGET_RTF:.0f}: {'met' if fast else 'NOT met'}")
    print(f"target peak memory < {TARGET_MB} MB per process: {'met' if small else 'NOT met'}")
    print(f"machine load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
