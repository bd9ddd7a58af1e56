"""Debian's nginx in front of a test server: a child process with its own config, pid,
logs and temp files in a folder of the test's, listening on a free loopback port.

The ``server { }`` directives come from the documentation (:func:`documented_blocks`),
so what the docs tell people to write is what the tests run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import ROOT, end_process, free_port, listening, wait_started

# The fenced ```nginx blocks of the docs; each holds directives of a `server { }` block.
_FENCED = re.compile(r"^([ \t]*)```nginx\n(.*?)^[ \t]*```", re.M | re.S)
# The upstreams the docs write: the main process (8000) and the telephony one (8001).
_DOC_UPSTREAM = re.compile(r"127\.0\.0\.1:800[01]")


def nginx_binary() -> str | None:
    """Debian's nginx (in /usr/sbin, which is not on every user's PATH), if installed."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if os.access(found, os.X_OK) else None


def require_nginx() -> str:
    """The nginx binary; the test is skipped without one, except under CI where it fails
    (``make test`` installs it)."""
    binary = nginx_binary()
    if binary is None:
        message = "Debian's nginx is not installed (make test installs it)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return binary


def documented_blocks() -> list[tuple[str, str]]:
    """Every nginx block of the docs as (``docs/file.md#n``, its directives)."""
    blocks = []
    for doc in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = doc.read_text(encoding="utf-8")
        for n, match in enumerate(_FENCED.finditer(text), start=1):
            indent, body = match.groups()
            lines = [line.removeprefix(indent) for line in body.splitlines()]
            blocks.append((f"{doc.relative_to(ROOT)}#{n}", "\n".join(lines)))
    return blocks


@dataclass
class Nginx:
    """nginx with ``directives`` inside its one ``server { }``, sending what the docs send
    to ``127.0.0.1:8000`` / ``:8001`` to ``upstream_port`` instead."""

    directives: str
    upstream_port: int
    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The whole nginx.conf: everything nginx writes stays in :attr:`folder`."""
        prefix = self.folder
        temp = "\n".join(
            f"    {kind}_temp_path {prefix / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        server = _DOC_UPSTREAM.sub(f"127.0.0.1:{self.upstream_port}", self.directives)
        # As root (CI) the workers would otherwise run as `nobody`, who cannot write here.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}worker_processes 1;\n"
            f"pid {prefix / 'nginx.pid'};\n"
            f"error_log {prefix / 'error.log'} warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "    access_log off;\n"
            f"{temp}\n"
            "    server {\n"
            f"        listen 127.0.0.1:{self.port};\n"
            f"{server}\n"
            "    }\n"
            "}\n"
        )

    def start(self, timeout: float = 10.0) -> Nginx:
        binary = require_nginx()
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "nginx.conf"
        conf.write_text(self.config(), encoding="utf-8")
        log = self.folder / "error.log"
        self.proc = subprocess.Popen(
            [binary, "-e", str(log), "-p", str(self.folder), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if wait_started(
            self.proc,
            lambda: listening(self.port),
            name="nginx",
            timeout=timeout,
            poll_s=0.05,
            detail="\n" + conf.read_text(),
        ):
            return self
        self.stop()
        raise RuntimeError("nginx did not listen in time")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM to the master, which stops its workers)."""
        if self.proc is None:
            return
        end_process(self.proc, signal.SIGTERM)
        if self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
