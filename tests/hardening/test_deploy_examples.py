"""The deployment examples work as shipped: the systemd unit and its environment file, and
the nginx site (checked by `nginx -t`, then run in front of a real server over TLS)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from attribution.guard import hashes_of
from attribution.tokens import SESSION_TOKEN, Signer
from backend.commands.serve import weak_key
from backend.settings import Settings, documented_settings
from pool.store import now_ms
from tests.support.browser import BROWSER_HEADERS
from tests.support.nginx import documented_blocks, require_nginx
from tests.support.server import (
    ROOT,
    TEST_SECRET_KEY,
    Server,
    cli_env,
    free_port,
    listening,
    run_cli,
    wait_started,
)

UNIT = ROOT / "examples" / "systemd" / "callpath.service"
BACKUP_UNIT = ROOT / "examples" / "systemd" / "callpath-backup.service"
TIMER = ROOT / "examples" / "systemd" / "callpath-backup.timer"
ENV_FILE = ROOT / "examples" / "systemd" / "callpath.env"
SITE = ROOT / "examples" / "nginx" / "callpath.conf"
INSTALLED = "/opt/callpath/bin/callpath"


def env_file() -> dict[str, str]:
    """The example environment file as systemd reads it (KEY=value lines)."""
    found = {}
    for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED in text
    for needed in (
        "Restart=on-failure",
        "EnvironmentFile=/etc/callpath/callpath.env",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/callpath",
    ):
        assert needed in text
    # verify also checks that the commands exist: point them at this checkout's callpath.
    here = str(Path(sys.executable).parent / "callpath")
    units = []
    for source in (UNIT, BACKUP_UNIT, TIMER):
        unit = tmp_path / source.name
        unit.write_text(source.read_text(encoding="utf-8").replace(INSTALLED, here))
        units.append(str(unit))
    r = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, timeout=60, check=False
    )
    # A misspelt option is only warned about ("... ignoring"): no output at all is the bar.
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_backup_unit_command_takes_a_backup(tmp_path: Path) -> None:
    """The backup unit's command, run as systemd would run it (its `%%` unescaped)."""
    (line,) = [
        line.removeprefix("ExecStart=")
        for line in BACKUP_UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("ExecStart=")
    ]
    assert line.startswith("/bin/sh -c '") and line.endswith("'")
    command = line.removeprefix("/bin/sh -c '").removesuffix("'").replace("%%", "%")
    command = command.replace(INSTALLED, str(Path(sys.executable).parent / "callpath"))
    command = command.replace("/var/backups/callpath", str(tmp_path / "backups"))
    (tmp_path / "backups").mkdir()
    url = f"sqlite:///{tmp_path / 'callpath.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    for _ in range(2):  # the second night of that weekday replaces the file
        r = subprocess.run(
            ["/bin/sh", "-c", command],
            env=cli_env(url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stderr
    (made,) = (tmp_path / "backups").iterdir()
    assert re.fullmatch(r"callpath-[1-7]\.db", made.name)
    conn = sqlite3.connect(made)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def test_environment_file_holds_real_settings_and_refuses_its_placeholder_key() -> None:
    env = env_file()
    known = {name for name, _, _ in documented_settings()}
    assert set(env) <= known, set(env) - known
    settings = Settings.load(environ=env)
    assert settings.trusted_proxies == "127.0.0.1" and settings.host == "127.0.0.1"
    assert settings.database_url == "sqlite:////var/lib/callpath/callpath.db"
    # The spool and the database are where the unit lets the process write.
    assert settings.call_spool_path.startswith("/var/lib/callpath/")
    # Copied as is, the server does not start with a key anyone can read here.
    assert weak_key(settings.secret_key) is not None


def _proxy_block() -> str:
    (block,) = [body for name, body in documented_blocks() if name.startswith("docs/proxy.md")]
    return block.strip()


def test_nginx_site_carries_the_documented_proxy_block_as_is() -> None:
    lines = [line.strip() for line in SITE.read_text(encoding="utf-8").splitlines()]
    wanted = [line.strip() for line in _proxy_block().splitlines()]
    starts = [n for n, line in enumerate(lines) if line == wanted[0]]
    assert any(lines[n : n + len(wanted)] == wanted for n in starts)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")  # pragma: no cover
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=calls.example.com", "-keyout", str(key), "-out", str(cert)),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return cert, key


def _nginx_conf(folder: Path, http_port: int, https_port: int, upstream: int) -> Path:
    """nginx.conf including the example site, with only what a test must change changed:
    ports, certificate, IPv6 listens (loopback IPv6 may be missing here)."""
    cert, key = _self_signed(folder)
    site = SITE.read_text(encoding="utf-8")
    site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    site = site.replace("/etc/letsencrypt/live/calls.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/calls.example.com/privkey.pem", str(key))
    site = site.replace("127.0.0.1:8000", f"127.0.0.1:{upstream}")
    (folder / "callpath.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root the workers would otherwise run as `nobody`, who cannot read the key here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log off;\n{temp}\n    include {folder / 'callpath.conf'};\n}}\n",
        encoding="utf-8",
    )
    return conf


def test_nginx_site_passes_nginx_t_and_forwards_the_visitors_own_address(
    tmp_path: Path,
) -> None:
    nginx = require_nginx()
    db = tmp_path / "callpath.db"
    url = f"sqlite:///{db}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    http_port, https_port = free_port(), free_port()
    server = Server(url, env_extra={"CALLPATH_TRUSTED_PROXIES": "127.0.0.1"})
    conf = _nginx_conf(tmp_path, http_port, https_port, server.port)
    base = [nginx, "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(conf)]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr

    server.start()
    proc = subprocess.Popen([*base, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        assert wait_started(
            proc, lambda: listening(https_port), name="nginx", timeout=10, poll_s=0.05
        )
        # A visitor at 127.0.0.2 claims another address; callpath must see 127.0.0.2.
        transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=False)
        with httpx.Client(transport=transport, timeout=10) as client:
            plain = client.get(f"http://127.0.0.1:{http_port}/dashboard")
            assert plain.status_code == 301
            assert plain.headers["location"] == "https://127.0.0.1/dashboard"
            assert client.get(f"https://127.0.0.1:{https_port}/healthz").status_code == 200
            r = client.post(
                f"https://127.0.0.1:{https_port}/v1/session",
                content=b'{"site":"demo","url":"https://127.0.0.1/examples/"}',
                headers={
                    "content-type": "text/plain",
                    "x-forwarded-for": "203.0.113.9",
                    **BROWSER_HEADERS,
                },
            )
            assert r.status_code == 200, r.text
        session_id = Signer(TEST_SECRET_KEY, SESSION_TOKEN).read(r.json()["token"])
        conn = sqlite3.connect(db)
        try:
            site_id, stored = conn.execute(
                "SELECT site_id, ip_hash FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        finally:
            conn.close()
        assert stored in hashes_of(TEST_SECRET_KEY, "127.0.0.2", site_id=site_id, now_ms=now_ms())
        assert stored not in hashes_of(
            TEST_SECRET_KEY, "203.0.113.9", site_id=site_id, now_ms=now_ms()
        )
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
        server.stop()
