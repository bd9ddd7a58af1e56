"""A telephony-only process (``CALLPATH_ROLE=telephony``) beside the main one, on one
database: the carriers' webhooks answered and matched there, nothing else served."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from starlette.applications import Starlette

from backend.app import create_app
from backend.commands.serve import TelephonyProcess
from backend.errors import MACHINE_PREFIXES
from backend.settings import Settings
from tests.support.browser import BROWSER_HEADERS
from tests.support.server import Server, free_port, healthy, run_cli
from tests.telephony.conftest import (
    AUTH_TOKEN,
    BASE,
    TARGET,
    call_params,
    post_twilio,
    sign,
)

VISIT = {"site": "demo", "url": "http://127.0.0.1/examples/?gclid=role-test&utm_term=dentist"}


@pytest.fixture
async def phone_app(
    settings: Settings, demo: dict[str, Any], tmp_path: Path
) -> AsyncIterator[Starlette]:
    """A telephony-role app on the same database as ``app`` (started after the demo), with
    a call spool of its own as every server process needs."""
    spool = str(tmp_path / "phone-spool.jsonl")
    application = create_app(settings.replace(role="telephony", call_spool_path=spool))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def phone(phone_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=phone_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


async def test_the_call_of_a_visit_on_the_main_process_is_matched_by_the_telephony_one(
    client: httpx.AsyncClient, phone: httpx.AsyncClient, phone_app: Starlette
) -> None:
    r = await client.post("/v1/session", json=VISIT, headers={"origin": "http://127.0.0.1"})
    assert r.status_code == 200, r.text
    number = {s["target"]: s["number"] for s in r.json()["swaps"]}[TARGET]

    r = await post_twilio(phone, "/twilio/voice", call_params(sid="CAROLE1", to=number))
    assert r.status_code == 200
    assert ET.fromstring(r.content).find("Dial").findtext("Number") == TARGET
    recorder = phone_app.state.telephony.recorder
    assert await recorder.drain(10)
    row = await phone_app.state.db.fetchone(
        "SELECT c.match_method, s.gclid FROM calls c JOIN sessions s ON s.id = c.session_id"
        " WHERE c.provider_call_id = 'CAROLE1'"
    )
    assert row == {"match_method": "lease", "gclid": "role-test"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/session"),
        ("POST", "/v1/heartbeat"),
        ("GET", "/dni.js"),
        ("GET", "/dashboard"),
        ("GET", "/api/calls"),
        ("GET", "/examples/"),
        ("GET", "/"),
    ],
)
async def test_the_telephony_role_serves_nothing_but_webhooks_and_health(
    phone: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await phone.request(method, path, json=VISIT if method == "POST" else None)
    assert r.status_code == 404
    if path.startswith(MACHINE_PREFIXES):  # elsewhere errors are pages, as on every process
        assert r.json()["error"]["status"] == 404


async def test_the_telephony_role_answers_health_and_runs_no_background_jobs(
    settings: Settings,
) -> None:
    jobs = {"callpath-lease-sweep", "callpath-retention", "callpath-ga4"}
    assert settings.lease_sweep_seconds > 0
    phone_settings = settings.replace(role="telephony", call_spool_path="")
    for role_settings, runs_jobs in ((phone_settings, False), (settings, True)):
        application = create_app(role_settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
                assert (await c.get("/healthz")).json()["ok"] is True
            names = {task.get_name() for task in asyncio.all_tasks()}
            # The sweep shows where it runs: the same check can fail.
            assert bool(jobs & names) is runs_jobs, role_settings.role


def test_an_unknown_role_is_refused(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="role"):
        create_app(settings.replace(role="visits"))
    r = run_cli("serve", "--role", "visits", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert r.returncode == 2 and "invalid choice" in r.stderr


# --- `callpath serve --telephony-port`: a real server and its telephony child ------------


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.e2e
@pytest.mark.slow
def test_serve_with_a_telephony_port_runs_and_restarts_a_telephony_process(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "callpath.db"
    url = f"sqlite:///{db_path}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    server = Server(
        url, env_extra={"CALLPATH_TWILIO_AUTH_TOKEN": AUTH_TOKEN}, telephony_port=free_port()
    ).start(timeout=60)
    assert server.proc is not None
    phone_url = server.telephony_url
    try:
        r = httpx.post(
            server.url + "/v1/session",
            json=VISIT,
            headers={**BROWSER_HEADERS, "origin": "http://127.0.0.1"},
        )
        number = {s["target"]: s["number"] for s in r.json()["swaps"]}[TARGET]
        assert httpx.post(phone_url + "/v1/session", json=VISIT).status_code == 404

        def call(sid: str) -> httpx.Response:
            hook = phone_url + "/twilio/voice"
            params = call_params(sid=sid, to=number)
            return httpx.post(hook, data=params, headers={"X-Twilio-Signature": sign(hook, params)})

        assert ET.fromstring(call("CASERVE1").content).find("Dial").findtext("Number") == TARGET

        def matched() -> list[tuple[str, str]]:
            with sqlite3.connect(db_path, timeout=10) as conn:
                return conn.execute(
                    "SELECT provider_call_id, match_method FROM calls ORDER BY id"
                ).fetchall()

        assert _wait_for(lambda: matched() == [("CASERVE1", "lease")], 10)

        # The telephony process dies: it is started again, and answers again.
        (child,) = _children(server.proc.pid)
        os.kill(child, signal.SIGKILL)
        assert _wait_for(lambda: child not in _children(server.proc.pid), 10)
        assert _wait_for(lambda: healthy(phone_url), 30)
        assert ET.fromstring(call("CASERVE2").content).find("Dial").findtext("Number") == TARGET
        (restarted,) = _children(server.proc.pid)
        # The two processes journal their calls in files of their own.
        journals = {p.name for p in tmp_path.glob("callpath.db.calls*.jsonl")}
        assert journals == {"callpath.db.calls.jsonl", "callpath.db.calls.1.jsonl"}
    finally:
        server.stop()
    # Stopping the server stops its telephony process too.
    assert _wait_for(lambda: not Path(f"/proc/{restarted}").exists(), 15)
    assert not healthy(phone_url)


# --- the supervisor alone, on tiny child processes -----------------------------------


def test_a_crashed_telephony_process_is_started_again_and_a_clean_exit_is_not() -> None:
    crashing = TelephonyProcess([sys.executable, "-c", "raise SystemExit(3)"])
    crashing.start()
    try:
        assert _wait_for(lambda: crashing.starts >= 2, 10)  # after a 1 s delay
    finally:
        crashing.stop()
    clean = TelephonyProcess([sys.executable, "-c", "pass"])
    clean.start()
    try:
        assert _wait_for(lambda: not clean._watcher.is_alive(), 10)
        assert clean.starts == 1
    finally:
        clean.stop()


def test_stopping_the_supervisor_stops_its_child() -> None:
    sleeper = TelephonyProcess([sys.executable, "-c", "import time; time.sleep(60)"])
    sleeper.start()
    assert sleeper.proc is not None
    sleeper.stop(timeout=10)
    assert sleeper.proc.poll() is not None
    assert not sleeper._watcher.is_alive()
    assert sleeper.starts == 1


def test_the_telephony_process_gets_a_journal_of_its_own_unless_journals_are_off() -> None:
    from backend.commands.serve import _telephony_env

    own = _telephony_env("/var/lib/callpath/calls.jsonl")["CALLPATH_CALL_SPOOL_PATH"]
    assert own == "/var/lib/callpath/calls.telephony.jsonl"
    # `off` is not a path: the child inherits it rather than journal to `off.telephony`.
    assert "telephony" not in _telephony_env("off").get("CALLPATH_CALL_SPOOL_PATH", "")
