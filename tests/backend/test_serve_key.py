"""``callpath serve`` refuses a secret key anyone could know.

With the default key (or a short one) anyone can sign visitor tokens (put pages into
another visitor's click path, keep their lease alive) and reverse the stored address
hashes, so the server does not start with one, unless it is told this is a throwaway
demo (``--insecure-demo-key``, what ``make run`` would use without its generated key).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from attribution.tokens import SESSION_TOKEN, Signer
from backend.settings import DEFAULT_SECRET_KEY
from tests.support.server import ROOT, Server, cli_env, free_port

MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def _serve(tmp_path: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``callpath serve`` with ``key``; it must exit by itself (a refusal)."""
    url = f"sqlite:///{tmp_path / 'callpath.db'}"
    argv = [sys.executable, "-m", "backend.cli", "serve", "--port", str(free_port()), *args]
    proc = subprocess.Popen(
        argv,
        env=cli_env(url, CALLPATH_SECRET_KEY=key),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"callpath serve started with the secret key {key!r}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize(
    "key",
    [DEFAULT_SECRET_KEY, "", "test-secret", "x" * 31],
    ids=["default", "empty", "short", "31"],
)
def test_serve_refuses_a_known_or_short_key(tmp_path: Path, key: str) -> None:
    r = _serve(tmp_path, key)
    assert r.returncode != 0
    assert "CALLPATH_SECRET_KEY" in r.stderr
    assert MAKE_A_KEY in r.stderr  # how to make a good one
    assert "--insecure-demo-key" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_refuses_it_with_workers_and_a_telephony_port(tmp_path: Path) -> None:
    r = _serve(tmp_path, DEFAULT_SECRET_KEY, "--workers", "2", "--telephony-port", str(free_port()))
    assert r.returncode != 0 and MAKE_A_KEY in r.stderr


def test_the_forgery_the_default_key_allows() -> None:
    """Why: a token for any session, signed by anyone who read the source."""
    forged = Signer(DEFAULT_SECRET_KEY, SESSION_TOKEN).sign(1)
    assert Signer(DEFAULT_SECRET_KEY, SESSION_TOKEN).read(forged) == 1


@pytest.mark.e2e
@pytest.mark.slow
def test_insecure_demo_key_starts_workers_and_the_telephony_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'callpath.db'}"
    server = Server(
        url,
        env_extra={"CALLPATH_SECRET_KEY": DEFAULT_SECRET_KEY},
        args=["--insecure-demo-key", "--workers", "2"],
        telephony_port=free_port(),
    ).start(timeout=60)
    try:
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert httpx.get(server.telephony_url + "/healthz").status_code == 200
    finally:
        server.stop()
