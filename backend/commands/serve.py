"""``callpath serve``: run the HTTP server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from backend.observability.logs import logging_config
from backend.proxies import parse_trusted_proxies
from backend.settings import DEFAULT_SECRET_KEY, ROLES, Settings

log = logging.getLogger("callpath")

# token_urlsafe(32) gives 43 characters; 32 is the shortest key `serve` takes.
MIN_SECRET_KEY_LENGTH = 32
MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
# What earlier versions read for the proxy's address; now CALLPATH_TRUSTED_PROXIES.
RETIRED_PROXY_SETTINGS = ("FORWARDED_ALLOW_IPS", "CALLPATH_TRUST_FORWARDED_FOR")
# How long a new worker of `--workers N` may take to start before uvicorn replaces it.
WORKER_HEALTHCHECK_SECONDS = 30


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", help="listen address (else CALLPATH_HOST)")
    p.add_argument("--port", type=int, help="listen port (else CALLPATH_PORT)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (each with its own connections)",
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        help="what this process serves (else CALLPATH_ROLE): all, or only the telephony webhooks",
    )
    p.add_argument(
        "--telephony-port",
        type=int,
        help="also start a telephony-only process on this port (restarted if it dies), for"
        " the carriers' webhooks; route /twilio/ and /webhooks/ there",
    )
    p.add_argument(
        "--insecure-demo-key",
        action="store_true",
        help="start even with the default or a short CALLPATH_SECRET_KEY (a throwaway demo"
        " only: anyone can then forge visitor tokens)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from backend import setup_codes
    from backend.app import create_app
    from backend.commands import settings_from
    from backend.storage import open_database
    from pool.store import now_ms

    settings = settings_from(args, host=args.host, port=args.port, role=args.role)
    try:
        log_config = logging_config(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise SystemExit(f"callpath serve: {exc}") from None
    # This process's own lines (and the workers', through uvicorn's log_config) in the
    # format asked for: text, or one JSON object a line (docs/operations.md, Logs).
    logging.config.dictConfig(log_config)
    weak = weak_key(settings.secret_key)
    if weak and not args.insecure_demo_key:
        raise SystemExit(f"callpath serve: {weak}")
    if weak:
        log.warning("callpath serve: an insecure secret key, as asked (--insecure-demo-key)")
    retired = retired_proxy_setting(settings, os.environ)
    if retired:
        raise SystemExit(f"callpath serve: {retired}")
    parse_trusted_proxies(settings.trusted_proxies)  # a bad entry stops here, not per worker
    if args.workers < 1:
        raise SystemExit("callpath serve: --workers must be at least 1")
    if args.telephony_port is not None:
        if settings.role != "all":
            raise SystemExit("callpath serve: --telephony-port goes with the role all")
        if args.telephony_port == settings.port or not 0 < args.telephony_port < 65536:
            raise SystemExit("callpath serve: --telephony-port must be another valid port")
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # Forwarded headers are the app's to judge (backend/proxies.py), against
        # CALLPATH_TRUSTED_PROXIES: uvicorn's own would trust loopback whatever it says.
        "proxy_headers": False,
        "access_log": settings.log_level == "debug",
        "log_config": log_config,
    }

    async def migrate() -> str | None:
        db = await open_database(settings.database_url)
        try:
            # A fresh install's one-time set-up code, issued once here so that every
            # worker accepts the code printed below (its hash is in the database).
            return await setup_codes.issue(db, now_ms()) if settings.role == "all" else None
        finally:
            await db.close()

    # Migrated once here, not by every process at once as each starts.
    code = asyncio.run(migrate())
    if code:
        url, elsewhere = setup_codes.address(settings.public_url, settings.host, settings.port)
        print(setup_codes.announce(code, url, elsewhere=elsewhere), file=sys.stderr, flush=True)
    companion = None
    if args.telephony_port is not None:
        companion = TelephonyProcess(
            _telephony_argv(args, settings.host, args.telephony_port),
            _telephony_env(settings.call_spool_path),
        )
        companion.start()
    try:
        if args.workers == 1:
            uvicorn.run(create_app(settings), **options)
            return 0
        if settings.database_url.startswith("sqlite"):
            log.warning(
                "%d workers on one SQLite file take turns at its write lock; one worker is"
                " faster there (docs/postgresql.md)",
                args.workers,
            )
        # Each worker is a fresh process that builds its app from the environment (uvicorn
        # imports the factory there): what the command line said travels that way.
        os.environ["CALLPATH_DATABASE_URL"] = settings.database_url
        os.environ["CALLPATH_ROLE"] = settings.role
        if args.config:
            os.environ["CALLPATH_CONFIG"] = str(args.config)
        # uvicorn restarts a worker that has not answered its health check within 5 s; a
        # worker still importing the app on a busy small machine takes longer than that, and
        # was killed and restarted in a loop. A slow start is not a hung worker.
        uvicorn.run(
            "backend.app:create_app",
            factory=True,
            workers=args.workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **options,
        )
        return 0
    finally:
        if companion is not None:
            companion.stop()


def weak_key(secret_key: str) -> str | None:
    """Why ``secret_key`` must not sign a public server's tokens, or None if it may.

    It signs visitor tokens (whoever knows it can put pages into another visitor's click
    path or keep their lease alive) and salts the stored address hashes (whoever knows it
    can reverse them, there being only 2**32 IPv4 addresses).
    """
    if secret_key == DEFAULT_SECRET_KEY:
        problem = f"CALLPATH_SECRET_KEY is the default {DEFAULT_SECRET_KEY!r}, known to everyone"
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problem = (
            f"CALLPATH_SECRET_KEY is {len(secret_key)} characters long; at least"
            f" {MIN_SECRET_KEY_LENGTH} random ones are needed"
        )
    else:
        return None
    return (
        f"{problem}. With it anyone can forge visitor tokens and reverse the stored address"
        f" hashes. Make a key with\n\n    {MAKE_A_KEY}\n\nand set it as CALLPATH_SECRET_KEY"
        " (or secret_key in the config file), the same on every instance. For a throwaway"
        " demo only, --insecure-demo-key starts anyway."
    )


def retired_proxy_setting(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """A setting earlier versions read for the proxy, set while the one read now is not:
    ignoring it silently would make every visitor behind the proxy share its address."""
    if settings.trusted_proxies:
        return None
    for name in RETIRED_PROXY_SETTINGS:
        value = environ.get(name, "").strip().lower()
        if value and value not in {"0", "false", "no", "off"}:
            return (
                f"{name} is no longer read: name your reverse proxies' addresses in"
                " CALLPATH_TRUSTED_PROXIES instead (docs/proxy.md)"
            )
    return None


def _telephony_argv(args: argparse.Namespace, host: str, port: int) -> list[str]:
    argv = [sys.executable, "-m", "backend.cli"]
    if args.config:
        argv += ["--config", str(args.config)]
    if args.database:
        argv += ["--database", args.database]
    argv += ["serve", "--role", "telephony", "--host", host, "--port", str(port)]
    # The child reads the same key, so it needs the same permission to use a weak one.
    return [*argv, "--insecure-demo-key"] if args.insecure_demo_key else argv


def _telephony_env(spool_path: str) -> dict[str, str]:
    """The child's environment: this one, with a call journal of its own when a path is
    set (without one, it takes the next free slot of the default journal itself)."""
    env = dict(os.environ)
    if spool_path and spool_path.strip().lower() != "off":
        spool = Path(spool_path)
        own = spool.with_name(f"{spool.stem}.telephony{spool.suffix}")
        env["CALLPATH_CALL_SPOOL_PATH"] = str(own)
    return env


class TelephonyProcess:
    """A ``callpath serve --role telephony`` child of this server, restarted when it dies
    (not when it exits cleanly: that was asked for).

    Its own process, so its own core and event loop: a carrier's webhook is answered at
    once even while the main process is saturated with visits (docs/benchmarks.md).
    """

    # A child that ran this long before dying is restarted after the shortest delay again.
    STABLE_S = 60.0
    MAX_DELAY_S = 30.0

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(
            target=self._watch, name="callpath-telephony-watch", daemon=True
        )

    def start(self) -> None:
        """Start the child and the thread that restarts it."""
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self.proc = subprocess.Popen(self.argv, env=self.env)
            self.starts += 1

    def _watch(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            proc, started = self.proc, time.monotonic()
            assert proc is not None
            while proc.poll() is None and not self._stopping.wait(0.2):
                pass
            if self._stopping.is_set():
                return
            if proc.returncode == 0:
                # A clean exit was asked for (Ctrl-C reaches the whole process group, a
                # service manager may signal it): not a crash, so not restarted.
                log.info("the telephony process stopped")
                return
            if time.monotonic() - started > self.STABLE_S:
                delay = 1.0
            log.error(
                "the telephony process exited with %s; starting it again in %.0f s",
                proc.returncode,
                delay,
            )
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.MAX_DELAY_S)
            self._spawn()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop restarting, and stop the child as Ctrl-C would (SIGKILL if it hangs)."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._watcher.is_alive():
            self._watcher.join(timeout)
