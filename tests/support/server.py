"""A real callpath server in a child process, on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "test-secret-of-the-real-servers-0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving_asgi(app: Any, port: int | None = None, **config: Any) -> AsyncIterator[int]:
    """An ASGI app under uvicorn on a loopback port (a free one by default), in the test's
    own event loop; yields the port. ``config``: more ``uvicorn.Config`` options (TLS)."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="error", lifespan="off", **config
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a callpath child process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CALLPATH_") and k != "FORWARDED_ALLOW_IPS"
    }
    env.update(
        {
            "CALLPATH_DATABASE_URL": database_url,
            # Long enough for `callpath serve`, which refuses a short or default key.
            "CALLPATH_SECRET_KEY": TEST_SECRET_KEY,
            "CALLPATH_LOG_LEVEL": "warning",
            # Test clients all arrive from 127.0.0.1: the per-address flood guard is off
            # unless a test turns it on (tests/hardening).
            "CALLPATH_IP_RATE_PER_MINUTE": "0",
            "CALLPATH_IP_MAX_LIVE_SESSIONS": "0",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def run_cli(*args: str, database_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``callpath ARGS`` to completion and return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=cli_env(database_url, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def demo_database(tmp_path: Path) -> str:
    """The URL of a new SQLite database in ``tmp_path`` that ``callpath demo`` has filled."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = run_cli("demo", "--json", database_url=url)
    assert done.returncode == 0, done.stderr
    return url


def healthy(url: str) -> bool:
    """Whether a callpath process at ``url`` answers ``/healthz`` with 200 right now."""
    try:
        return httpx.get(url + "/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` right now."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_started(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    name: str,
    timeout: float,
    poll_s: float = 0.1,
    detail: str = "",
) -> bool:
    """Poll ``ready()`` until it holds (True) or ``timeout`` seconds pass (False). A process
    that exits first is a RuntimeError carrying what it wrote on stderr and ``detail``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{name} exited early: {err}{detail}")
        if ready():
            return True
        time.sleep(poll_s)
    return False


def end_process(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Ask a child process to stop with ``sig``; kill it if it has not within 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Server:
    """A running ``callpath serve``; :meth:`stop` or :meth:`kill` ends it."""

    database_url: str
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # more `callpath serve` options
    # `--telephony-port`: the server also runs its telephony-only process there.
    telephony_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def telephony_url(self) -> str:
        assert self.telephony_port is not None
        return f"http://127.0.0.1:{self.telephony_port}"

    def start(self, timeout: float = 20.0) -> Server:
        port = self.telephony_port
        extra = [] if port is None else ["--telephony-port", str(port)]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
                *extra,
            ],
            env=cli_env(self.database_url, **self.env_extra),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if wait_started(self.proc, self._healthy, name="server", timeout=timeout):
            return self
        self.stop()
        raise RuntimeError("server did not become healthy in time")

    def _healthy(self) -> bool:
        return healthy(self.url) and (self.telephony_port is None or healthy(self.telephony_url))

    def stop(self) -> None:
        if self.proc:
            end_process(self.proc, signal.SIGINT)
        self._close()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush or close anything."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._close()

    def _close(self) -> None:
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
