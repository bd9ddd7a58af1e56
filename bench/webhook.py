"""Voice webhook latency while ``/v1/session`` is under load.

Starts a real ``callpath serve --telephony-port`` (uvicorn, plus its telephony-only
process on a second port) on free loopback ports over a fresh SQLite file seeded with the
demo, then:

1. baseline: ``--calls`` signed Twilio voice webhooks, one after another, nothing else
   running;
2. load: ``--workers`` concurrent clients keep posting ``/v1/session`` (each request from an
   address of its own) while the same number of voice webhooks is sent again. The clients
   are wrk's connections when wrk is installed (``make bench`` installs it), else a Python
   process of httpx clients. (That process took most of a core to send about 600 sessions
   a second; on two cores it competed with the server and the webhook client for CPU, and
   its p99 showed that more than the server's.)
3. the same load on the main process, with the webhooks sent to the telephony process, as
   a deployment that routes ``/twilio/`` there does (docs/telephony.md).

Prints p50 / p99 of the webhook's latency (as the client sees it: signing excluded,
connection reused) in each phase, their ratio to the baseline, the session load's request
rate, and whether the p99 under load is under the 10 ms target. Every webhook must be answered with
a ``<Dial>``. Only 127.0.0.1 is contacted; the server and the load stop by themselves.

    python -m bench.webhook [--calls 400] [--workers 16] [--rate 0 200]

One run per ``--rate``: 0 is a load as heavy as the server lets it be (it stays saturated,
and the faster the session endpoint, the more sessions per second the webhooks compete
with); a rate fixes it, to compare builds under the same load, and to see a server that
has headroom, as one in service should.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
from twilio.request_validator import RequestValidator

from bench import _wrk
from tests.support.server import Server, free_port, run_cli

TOKEN = "bench-twilio-token"
AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
TARGET_MS = 10.0
# One phase's webhooks, sent when called (a ``partial`` of :func:`_webhooks`).
Webhooks = Callable[[], Coroutine[Any, Any, list[float]]]
SESSION_BODY = orjson.dumps({"site": "demo", "url": "http://127.0.0.1/examples/?gclid=bench"})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _webhooks(
    base: str,
    numbers: list[str],
    count: int,
    tag: str,
    app_ms: list[float] | None = None,
    cpu_ms: list[float] | None = None,
) -> list[float]:
    """Send ``count`` signed voice webhooks in turn; return each latency in ms (and collect
    the app's own time from ``Server-Timing`` into ``app_ms``)."""
    validator = RequestValidator(TOKEN)
    url = base + "/twilio/voice"
    latencies = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(count):
            params = {
                "AccountSid": "AC" + "0" * 32,
                "CallSid": f"CA{tag}{i:06d}",
                "CallStatus": "ringing",
                "Direction": "inbound",
                "From": f"+8190{i:08d}",
                "To": numbers[i % len(numbers)],
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            start = time.perf_counter()
            r = await client.post(url, data=params, headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            if r.status_code != 200 or b"<Dial" not in r.content:
                raise RuntimeError(f"webhook answered {r.status_code}: {r.text[:200]}")
            timings = dict(
                (name.strip(), float(value))
                for name, _, value in (
                    part.partition(";dur=") for part in r.headers["server-timing"].split(",")
                )
            )
            if app_ms is not None:
                app_ms.append(timings["app"])
            if cpu_ms is not None:
                cpu_ms.append(timings["cpu"])
    return latencies


async def _load(base: str, workers: int, stop: Any, counter: Any, rate: float = 0.0) -> None:
    body = SESSION_BODY
    # With a rate, each worker starts a request every `gap` seconds (as many as it can when
    # answers come slower); without one, each sends the next as soon as it is answered.
    gap = workers / rate if rate > 0 else 0.0

    async def worker(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            i = 0
            due = time.monotonic()
            while not stop.is_set():
                if gap:
                    due += gap
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                i += 1
                await client.post(
                    "/v1/session",
                    content=body,
                    headers={
                        "content-type": "text/plain",
                        "origin": "http://127.0.0.1",
                        # A person at a browser, so the session is tracked, not dropped.
                        "user-agent": AGENT,
                        "accept-language": "ja,en-US;q=0.9,en;q=0.8",
                        "x-forwarded-for": f"10.{n}.{(i // 250) % 250}.{i % 250 + 1}",
                    },
                )
                with counter.get_lock():
                    counter.value += 1

    await asyncio.gather(*(worker(n) for n in range(workers)))


def _load_process(base: str, workers: int, stop: Any, counter: Any, rate: float) -> None:
    asyncio.run(_load(base, workers, stop, counter, rate))


def _under_wrk_load(
    base: str, workers: int, rate: float, calls: int, send: Webhooks
) -> tuple[list[float], float]:
    """The webhooks ``send()`` sends (``calls`` of them) while wrk keeps ``workers``
    connections posting sessions to ``base``; their latencies and the sessions' rate."""
    # Long enough for the warm-up and every webhook even on a slow machine; stopped as soon
    # as the webhooks are done.
    seconds = 3 + calls * 0.02
    with tempfile.TemporaryDirectory(prefix="callpath-wrk-") as tmp:
        procs = _wrk.start(
            [base],
            "/v1/session",
            SESSION_BODY,
            seconds=seconds,
            connections=workers,
            workdir=Path(tmp),
            rate=rate,
        )
        try:
            time.sleep(1.0)  # every connection has had answers
            loaded = asyncio.run(send())
        finally:
            _wrk.interrupt(procs)
            result = _wrk.finish(procs, timeout=seconds + 60)
    if result.non2xx or result.errors:
        raise RuntimeError(f"session load: {result.non2xx} non-2xx, {result.errors} errors")
    return loaded, result.rps


def _under_httpx_load(
    base: str, workers: int, rate: float, calls: int, send: Webhooks
) -> tuple[list[float], float]:
    """The same, with a Python process of ``workers`` httpx clients as the session load."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    counter = ctx.Value("q", 0)
    loader = ctx.Process(target=_load_process, args=(base, workers, stop, counter, rate))
    loader.start()
    try:
        # Measure only once the load runs: every client has had an answer.
        deadline = time.monotonic() + 60
        while counter.value < 2 * workers and time.monotonic() < deadline:
            time.sleep(0.05)
        if counter.value < 2 * workers:
            raise RuntimeError("the session load did not start")
        before, started = counter.value, time.perf_counter()
        loaded = asyncio.run(send())
        load_rps = (counter.value - before) / (time.perf_counter() - started)
    finally:
        stop.set()
        loader.join(30)
        if loader.is_alive():
            loader.terminate()
    return loaded, load_rps


def run(calls: int, workers: int, rate: float = 0.0) -> dict[str, Any]:
    """Every phase against a fresh server; the measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seeded = run_cli("demo", "--json", database_url=url)
        if seeded.returncode != 0:
            raise RuntimeError(seeded.stderr)
        demo = orjson.loads(seeded.stdout)
        numbers = [n for t in demo["targets"] for n in t["tracking_numbers"]]
        server = Server(
            url,
            # The visits' load sends each visitor's address in X-Forwarded-For.
            env_extra={
                "CALLPATH_TWILIO_AUTH_TOKEN": TOKEN,
                "CALLPATH_TRUSTED_PROXIES": "127.0.0.1",
            },
            telephony_port=free_port(),
        ).start(timeout=60)
        phone = server.telephony_url
        try:
            asyncio.run(_webhooks(server.url, numbers, 50, "warm"))
            asyncio.run(_webhooks(phone, numbers, 50, "warmphone"))
            app_ms: dict[str, list[float]] = {k: [] for k in ("base", "load", "phone")}
            cpu_ms: dict[str, list[float]] = {k: [] for k in ("base", "load", "phone")}
            load_before = os.getloadavg()[0]
            base = asyncio.run(
                _webhooks(server.url, numbers, calls, "base", app_ms["base"], cpu_ms["base"])
            )
            under = _under_wrk_load if _wrk.available() else _under_httpx_load
            measured = {}
            # The load on the main process each time; the webhooks to it, then to its
            # telephony process.
            for phase, hooks in (("load", server.url), ("phone", phone)):
                send = partial(
                    _webhooks, hooks, numbers, calls, phase, app_ms[phase], cpu_ms[phase]
                )
                measured[phase] = under(server.url, workers, rate, calls, send)
            (loaded, load_rps), (phoned, phone_rps) = measured["load"], measured["phone"]
        finally:
            server.stop()
    return {
        "calls": calls,
        "workers": workers,
        "base_p50": statistics.median(base),
        "base_p99": _percentile(base, 0.99),
        "load_p50": statistics.median(loaded),
        "load_p99": _percentile(loaded, 0.99),
        "load_rps": load_rps,
        "phone_p50": statistics.median(phoned),
        "phone_p99": _percentile(phoned, 0.99),
        "phone_rps": phone_rps,
        **{f"{k}_app_p99": _percentile(v, 0.99) for k, v in app_ms.items()},
        **{f"{k}_cpu_p99": _percentile(v, 0.99) for k, v in cpu_ms.items()},
        "loadavg": load_before,
        "cpus": os.cpu_count() or 1,
        "generator": "wrk" if _wrk.available() else "httpx",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[0.0, 200.0],
        help="session requests per second in all, one run per value (0: every client as"
        " fast as it is answered, which keeps the server saturated); with wrk a rate is a"
        " ceiling (each connection waits between answer and next request), the measured"
        " rate is printed",
    )
    args = parser.parse_args(argv)
    for i, rate in enumerate(args.rate):
        if i:
            print()
        _report(run(args.calls, args.workers, rate), rate)
    return 0


def _report(r: dict[str, Any], rate: float) -> None:
    load = "as fast as answered" if rate <= 0 else f"at most {rate:g}/s"
    print(f"session load {load}; voice webhooks per phase: {r['calls']}")
    print(f"baseline (no load)   p50 {r['base_p50']:6.2f} ms   p99 {r['base_p99']:6.2f} ms")
    clients = f"{r['workers']} {r['generator']} clients"
    for key, label in (("load", "same process"), ("phone", "telephony process")):
        print(
            f"under /v1/session load, webhooks to the {label}:"
            f" p50 {r[key + '_p50']:6.2f} ms   p99 {r[key + '_p99']:6.2f} ms"
            f"   ({clients}, {r[key + '_rps']:.0f} sessions/s)"
        )
        print(
            f"  ratio to baseline   p50 {r[key + '_p50'] / r['base_p50']:6.2f}x"
            f"     p99 {r[key + '_p99'] / r['base_p99']:6.2f}x"
        )
    print(
        "inside the app (Server-Timing) p99:"
        f" baseline {r['base_app_p99']:.2f} ms, same process {r['load_app_p99']:.2f} ms,"
        f" telephony process {r['phone_app_p99']:.2f} ms"
    )
    print(
        "  of which CPU of the handler p99:"
        f" baseline {r['base_cpu_p99']:.2f} ms, same process {r['load_cpu_p99']:.2f} ms,"
        f" telephony process {r['phone_cpu_p99']:.2f} ms"
    )
    print(f"machine load average at start: {r['loadavg']:.1f} on {r['cpus']} CPUs")
    for key, label in (("load", "same process"), ("phone", "telephony process")):
        verdict = "met" if r[key + "_p99"] < TARGET_MS else "MISSED"
        print(f"target p99 < {TARGET_MS:.0f} ms under load, {label}: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
