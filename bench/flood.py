"""Flood benchmark: people getting numbers while one address floods ``/v1/session``.

Starts a real ``callpath serve`` on a free loopback port over a fresh SQLite file with one
site and a pool of 80 numbers, then:

1. baseline: 50 people (each their own address, sent as ``X-Forwarded-For`` from
   loopback, which the server trusts: ``CALLPATH_TRUSTED_PROXIES=127.0.0.1``) ask for a
   number, with no flood;
2. flood: one address sends 5,000 session requests, 32 at a time, while 50 other people
   arrive. The flood comes from wrk when it is installed (``make bench`` installs it), so
   that the process timing the people is not also busy sending the flood; else from the
   same httpx client.

Prints how many people got a number in each phase, their median and 95th-percentile
latency as a ratio of the baseline, the flood's request rate, and how many numbers the
flooding address holds at the end (at most ``CALLPATH_IP_MAX_LIVE_SESSIONS``). Only
127.0.0.1 is contacted; the server is stopped at the end.

    python -m bench.flood [--flood 5000] [--people 50] [--no-guard]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from backend.settings import Settings
from backend.storage import open_database
from backend.storage.seed import CROWD_HOST, crowd, seed_site
from bench import _wrk
from tests.support.server import Server

SITE = "flood-bench"
HOST = CROWD_HOST
POOL = 120
AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)


async def seed(url: str) -> None:
    """The crowd site of the flood tests on ``shop.example`` with a pool of :data:`POOL`
    numbers (:func:`backend.storage.seed.crowd`)."""
    db = await open_database(url)
    try:
        await seed_site(db, "Bench", crowd(POOL, key=SITE))
    finally:
        await db.close()


def _headers(address: str) -> dict[str, str]:
    return {
        "user-agent": AGENT,
        "accept-language": "ja,en;q=0.8",
        "content-type": "text/plain;charset=UTF-8",
        "origin": f"https://{HOST}",
        "x-forwarded-for": address,
    }


_BODY = orjson.dumps({"site": SITE, "url": f"https://{HOST}/lp?gclid=bench", "referrer": ""})
FLOOD_ADDRESS = "203.0.113.66"

# wrk as the flooding address: the same request as a person's, from one address, `total`
# answers in all (a thread stops itself once it has had its share), counting the answers
# that carried a number.
_FLOOD_LUA = r"""
local total = %(total)d
wrk.method = "POST"
wrk.body = %(body)s
for name, value in pairs(%(headers)s) do wrk.headers[name] = value end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) answered = 0; got = 0 end
response = function(status, headers, body)
  answered = answered + 1
  if status == 200 and not string.find(body, '"swaps":[]', 1, true) then got = got + 1 end
  if answered == total then
    -- The run's duration is only a bound: the caller interrupts wrk on this line.
    io.write("FLOOD-DONE\n"); io.flush(); wrk.thread:stop()
  end
end
done = function(summary, latency, requests)
  local held = 0
  for _, t in ipairs(threads) do held = held + t:get("got") end
  local e = summary.errors
  io.write(string.format(
    'FLOOD {"requests": %%d, "duration_us": %%d, "got": %%d, "non2xx": %%d, "errors": %%d}\n',
    summary.requests, summary.duration, held, e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_table(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in mapping.items()) + "}"


def _start_wrk_flood(base: str, total: int, workdir: Path) -> subprocess.Popen[str]:
    """The flood as one wrk process (C, one thread): the Python client then measures the
    people alone, instead of sharing its event loop and a core with the flood's requests."""
    assert base.startswith("http://127."), base
    script = workdir / "flood.lua"
    script.write_text(
        _FLOOD_LUA
        % {
            "total": total,
            "body": json.dumps(_BODY.decode()),
            "headers": _lua_table(_headers(FLOOD_ADDRESS)),
        }
    )
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            "-c32",
            "-d300s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            base + "/v1/session",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class _WrkFlood:
    """A running wrk flood: a thread reads its output, notes when the last answer came
    (the script prints ``FLOOD-DONE``) and stops wrk then (SIGINT: it still reports)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.done_at: float | None = None
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # ends at the -d bound at the latest
            self._lines.append(line)
            if line.startswith("FLOOD-DONE") and self.done_at is None:
                self.done_at = time.perf_counter()
                self.proc.send_signal(signal.SIGINT)

    def result(self) -> tuple[int, float, int]:
        """Requests answered, seconds, and answers that carried a number."""
        self._reader.join(timeout=400)
        self.proc.wait(timeout=60)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        line = next((ln for ln in self._lines if ln.startswith("FLOOD ")), None)
        if self.proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({self.proc.returncode}): {err.strip()}")
        data = json.loads(line[6:])
        if data["non2xx"] or data["errors"]:
            raise RuntimeError(f"flood: {data['non2xx']} non-2xx, {data['errors']} errors")
        return int(data["requests"]), data["duration_us"] / 1e6, int(data["got"])


async def _visit(client: httpx.AsyncClient, address: str) -> tuple[bool, float]:
    start = time.perf_counter()
    try:
        r = await client.post("/v1/session", content=_BODY, headers=_headers(address))
    except httpx.TransportError:
        # A pooled keep-alive connection the server closed just as it was reused.
        r = await client.post("/v1/session", content=_BODY, headers=_headers(address))
    elapsed = time.perf_counter() - start
    r.raise_for_status()
    return bool(r.json()["swaps"]), elapsed


async def _people(client: httpx.AsyncClient, prefix: str, count: int, gap_s: float) -> list:
    out = []
    for i in range(count):
        out.append(await _visit(client, f"{prefix}.{i + 1}"))
        await asyncio.sleep(gap_s)
    return out


def guard_env(on: bool) -> dict[str, str]:
    """The server's flood-guard settings: the shipped defaults, or off."""
    defaults = Settings()
    return {
        "CALLPATH_IP_RATE_PER_MINUTE": str(defaults.ip_rate_per_minute if on else 0),
        "CALLPATH_IP_RATE_BURST": str(defaults.ip_rate_burst),
        "CALLPATH_IP_MAX_LIVE_SESSIONS": str(defaults.ip_max_live_sessions if on else 0),
        # People and the flood send their own address in X-Forwarded-For, from loopback.
        "CALLPATH_TRUSTED_PROXIES": "127.0.0.1",
    }


async def run(flood: int, people: int, *, guard: bool = True) -> dict[str, Any]:
    """Run both phases against a fresh server; return the measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        await seed(url)
        server = Server(url, env_extra=guard_env(guard)).start()
        try:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as c:
                base = await _people(c, "198.51.100", people, 0.0)
                if _wrk.available():
                    with tempfile.TemporaryDirectory(prefix="callpath-wrk-") as work:
                        running = _WrkFlood(_start_wrk_flood(server.url, flood, Path(work)))
                        try:
                            await asyncio.sleep(0.2)  # the flood is under way
                            during = await _people(c, "192.0.2", people, 0.01)
                            people_done = time.perf_counter()
                        finally:
                            flood_requests, flood_s, flood_ok = running.result()
                    generator = "wrk"
                    # Every person must have come while the flood was still going.
                    if running.done_at is not None and running.done_at < people_done:
                        late = (people_done - running.done_at) * 1000
                        generator += f" (it ended {late:.0f} ms before the last person did)"
                else:
                    sem = asyncio.Semaphore(32)
                    flood_ok = 0

                    async def flood_one() -> None:
                        nonlocal flood_ok
                        async with sem:
                            got, _ = await _visit(c, FLOOD_ADDRESS)
                            flood_ok += got

                    start = time.perf_counter()
                    flood_task = asyncio.gather(*(flood_one() for _ in range(flood)))
                    during = await _people(c, "192.0.2", people, 0.02)
                    await flood_task
                    flood_s, flood_requests = time.perf_counter() - start, flood
                    generator = "httpx, in the measuring process"
        finally:
            server.stop()
    base_lat = sorted(t for _, t in base)
    dur_lat = sorted(t for _, t in during)
    return {
        "people": people,
        "baseline_served": sum(g for g, _ in base),
        "flood_served_people": sum(g for g, _ in during),
        "flood_numbers_held": flood_ok,
        "flood_requests": flood_requests,
        "flood_rps": flood_requests / flood_s,
        "generator": generator,
        "p50_ratio": statistics.median(dur_lat) / statistics.median(base_lat),
        "p95_ratio": dur_lat[int(0.95 * (len(dur_lat) - 1))]
        / base_lat[int(0.95 * (len(base_lat) - 1))],
        "baseline_p50_ms": statistics.median(base_lat) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__)
    parser.add_argument("--flood", type=int, default=5000)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--no-guard", action="store_true", help="flood guard off (compare)")
    args = parser.parse_args(argv)
    r = asyncio.run(run(args.flood, args.people, guard=not args.no_guard))
    print(f"flood guard:                  {'off' if args.no_guard else 'on (shipped defaults)'}")
    print(f"flood sent by:                {r['generator']}")
    print(f"people served, no flood:      {r['baseline_served']}/{r['people']}")
    print(f"people served, during flood:  {r['flood_served_people']}/{r['people']}")
    print(f"numbers the flood got:        {r['flood_numbers_held']} of {r['flood_requests']}")
    print(f"flood requests/s handled:     {r['flood_rps']:.0f}")
    print(
        f"people latency p50 vs base:   {r['p50_ratio']:.2f}x  (base {r['baseline_p50_ms']:.1f} ms)"
    )
    print(f"people latency p95 vs base:   {r['p95_ratio']:.2f}x")
    return 0 if args.no_guard or r["flood_served_people"] == r["people"] else 1


if __name__ == "__main__":
    sys.exit(main())
