"""A load generator that is not the bottleneck: wrk (Debian's package), driven by a Lua
script that POSTs one body with a new visitor address on every request.

The Python generator (:mod:`bench._load`) spends more CPU per request than a bare route
costs the server, so on two cores it caps the baseline and flatters every ratio. wrk is C
with one event loop; one thread of it keeps a server busy with a few percent of a core.

Only loopback targets; every run is bounded by its duration. Latency quantiles come from
wrk's own histogram (microsecond resolution), requests per second from its summary.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench._load import BROWSER_UA

# The script sets X-Forwarded-For from 198.18.0.0/15 (RFC 2544, set aside for benchmarks),
# a new address per request, so per-address limits see many visitors and not one flood.
# `first` spreads the processes of one run over disjoint parts of the range.
_SCRIPT = r"""
local path, body, first, gap_ms = %(path)s, %(body)s, %(first)d, %(gap_ms)f
local n = first
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = %(ua)s
wrk.headers["Accept-Language"] = "ja,en;q=0.8"
request = function()
  n = n + 1
  local k = n %% 130048
  wrk.headers["X-Forwarded-For"] = string.format("198.%%d.%%d.%%d",
    18 + math.floor(k / 65024), math.floor(k / 254) %% 256, k %% 254 + 1)
  return wrk.format(nil, path, nil, body)
end
if gap_ms > 0 then
  -- A fixed rate: each connection waits this long before its next request.
  delay = function() return gap_ms end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d,' ..
    ' "non2xx": %%d, "errors": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def available() -> bool:
    """Whether wrk is installed (``make bench`` installs it)."""
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


@dataclass
class WrkResult:
    """Summed over the processes and rounds of one measurement."""

    requests: int = 0
    seconds: float = 0.0
    non2xx: int = 0
    errors: int = 0
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        """The worst p50 or p99 (ms) seen by any process in any round."""
        values = self.p50_ms if q <= 0.5 else self.p99_ms
        return max(values) if values else float("nan")

    def add(self, other: WrkResult) -> None:
        """Fold in the next round."""
        self.requests += other.requests
        self.seconds += other.seconds
        self.non2xx += other.non2xx
        self.errors += other.errors
        self.p50_ms += other.p50_ms
        self.p99_ms += other.p99_ms


def run(
    urls: Sequence[str],
    path: str,
    body: bytes,
    *,
    seconds: float,
    connections: int,
    first_address: int = 0,
) -> WrkResult:
    """POST ``body`` to ``path`` on every URL at once for ``seconds``; ``connections``
    spread over them (one wrk process per URL, as a load balancer would spread them)."""
    with tempfile.TemporaryDirectory(prefix="callpath-wrk-") as tmp:
        procs = start(
            urls,
            path,
            body,
            seconds=seconds,
            connections=connections,
            first_address=first_address,
            workdir=Path(tmp),
        )
        return finish(procs, timeout=seconds + 60)


def start(
    urls: Sequence[str],
    path: str,
    body: bytes,
    *,
    seconds: float,
    connections: int,
    workdir: Path,
    first_address: int = 0,
    rate: float = 0.0,
) -> list[subprocess.Popen[str]]:
    """Start the wrk processes of :func:`run` and return at once (:func:`finish` collects
    them). ``rate`` > 0: about that many requests a second in all (each connection waits
    ``connections / rate`` between requests), else as many as the server answers."""
    for url in urls:
        assert url.startswith("http://127."), url
    per_url = max(1, connections // len(urls))
    gap_ms = 1000.0 * per_url * len(urls) / rate if rate > 0 else 0.0
    procs = []
    for i, url in enumerate(urls):
        script = workdir / f"load{i}.lua"
        script.write_text(
            _SCRIPT
            % {
                "path": _lua_string(path),
                "body": _lua_string(body.decode()),
                "first": first_address + i * 40_000,
                "gap_ms": gap_ms,
                "ua": _lua_string(BROWSER_UA),
            }
        )
        procs.append(
            subprocess.Popen(
                [
                    "wrk",
                    "-t1",
                    f"-c{per_url}",
                    f"-d{max(1, round(seconds))}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(script),
                    url + path,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def interrupt(procs: Sequence[subprocess.Popen[str]]) -> None:
    """End wrk processes before their duration: on SIGINT wrk stops and reports as usual."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)


def finish(procs: Sequence[subprocess.Popen[str]], *, timeout: float) -> WrkResult:
    """Wait for wrk processes started by :func:`start`; their results summed."""
    result = WrkResult()
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        line = next((ln for ln in out.splitlines() if ln.startswith("WRK ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out}")
        data = json.loads(line[4:])
        result.requests += data["requests"]
        result.non2xx += data["non2xx"]
        result.errors += data["errors"]
        result.p50_ms.append(data["p50_us"] / 1000)
        result.p99_ms.append(data["p99_us"] / 1000)
        # The processes ran side by side: the measurement lasted as long as the longest.
        result.seconds = max(result.seconds, data["duration_us"] / 1e6)
    return result
