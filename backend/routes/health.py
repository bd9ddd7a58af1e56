"""Health: what a load balancer needs, and what an operator needs.

- ``GET /healthz`` (load balancers in front of everything): 200 while this instance can
  take visits *with tracking*: storage answered a trivial read within ``PROBE_S`` and no
  write failed in the last ``RECENT_MS``; else 503. It never waits longer than the probe:
  a locked table or an exhausted pool must not make the check itself hang.
- ``GET /healthz/calls`` (the carriers' load balancer, or a telephony process): 200
  whenever this process can answer calls, which it does from memory whatever storage is
  doing; storage trouble is reported in the body, never as a failure.
- ``GET /healthz/details`` (an operator, from this host only): storage reachable and
  recently writable, the recorder's backlog and its oldest age, dead letters, the call
  journal's size, SQLite's write-ahead log and last checkpoint, free disk where the data
  lives, and the last storage error. Answers 200 with all of it, whatever it says.

Every body also carries the call backlog (``calls``), as ``/healthz`` always has.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.errors import ApiError
from backend.storage.trouble import STORAGE_TROUBLE, storage_trouble
from pool.store import Store

# The longest /healthz waits for storage, and how recent a failed write must be to count.
PROBE_S = 1.0
RECENT_MS = 30_000


async def _probe(db: Store) -> tuple[bool, str, float]:
    """Whether storage answers a trivial read within PROBE_S; the error; milliseconds."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(db.fetchval("SELECT 1"), PROBE_S)
    except STORAGE_TROUBLE as exc:
        text = str(exc)[:200] or type(exc).__name__
        return False, text, (time.perf_counter() - started) * 1000
    return True, "", (time.perf_counter() - started) * 1000


def _recorder(request: Request) -> Any:
    telephony = getattr(request.app.state, "telephony", None)
    return None if telephony is None else telephony.recorder


def _calls(request: Request) -> dict[str, Any]:
    recorder = _recorder(request)
    if recorder is None:
        return {}
    return {
        "calls": {
            "backlog": recorder.pending,
            "oldest_age_ms": recorder.oldest_age_ms(),
            "dead_letters": recorder.dead_letters,
        }
    }


def _writes_failing(request: Request) -> bool:
    recorder = _recorder(request)
    recent = storage_trouble(request.app.state).recent(RECENT_MS)
    return recent or bool(recorder is not None and recorder.degraded)


async def healthz(request: Request) -> Response:
    """Can this instance take visits with tracking (see the module's docstring)."""
    reachable, error, _ = await _probe(request.app.state.db)
    failing = _writes_failing(request)
    body: dict[str, Any] = {"ok": reachable and not failing, **_calls(request)}
    if not reachable:
        body["storage"] = error
    elif failing:
        last = storage_trouble(request.app.state).last_error
        body["storage"] = "writes failing: " + last[:200]
    return JSONResponse(body, status_code=200 if body["ok"] else 503)


async def healthz_calls(request: Request) -> Response:
    """Can this process answer calls: always, while it runs (calls are answered from memory)."""
    telephony = getattr(request.app.state, "telephony", None)
    loaded = telephony is not None and bool(telephony.table.loaded)
    body: dict[str, Any] = {"ok": loaded, "routing_table_loaded": loaded, **_calls(request)}
    body["storage_writable"] = not _writes_failing(request)
    return JSONResponse(body, status_code=200 if body["ok"] else 503)


def _local(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in {"testclient", "testserver"}


def _disk_free(path: Path | None) -> int | None:
    if path is None:
        return None
    folder = path if path.is_dir() else path.parent
    try:
        return shutil.disk_usage(folder if str(folder) else ".").free
    except OSError:
        return None


async def healthz_details(request: Request) -> Response:
    """Everything an operator looks at; from this host only (it names paths and errors)."""
    if not _local(request):
        raise ApiError(404, "not_found", "Not found.")
    db = request.app.state.db
    reachable, error, latency_ms = await _probe(db)
    recorder = _recorder(request)
    journal = None if recorder is None else recorder.journal
    journal_path: Path | None = None if journal is None else journal.path
    trouble = storage_trouble(request.app.state)
    storage: dict[str, Any] = {
        "dialect": db.dialect,
        "reachable": reachable,
        "error": error,
        "probe_ms": round(latency_ms, 1),
        "writable": not _writes_failing(request),
        "failures": dict(trouble.failures),
        "last_error": trouble.last_error,
        "last_error_ms": trouble.last_ms,
    }
    data_path: Path | None = getattr(db, "path", None)
    if hasattr(db, "wal_bytes"):
        storage["wal_bytes"] = db.wal_bytes()
        storage["wal_max_bytes"] = db.wal_max_bytes
        storage["checkpoints"] = dict(db.checkpoints)
    storage["disk_free_bytes"] = _disk_free(data_path)
    body: dict[str, Any] = {"ok": reachable and storage["writable"], "storage": storage}
    body.update(_calls(request))
    if recorder is not None:
        body["calls"]["degraded"] = recorder.degraded
        body["calls"]["written"] = recorder.written
        body["journal"] = {
            "path": None if journal_path is None else str(journal_path),
            "bytes": _size(journal_path),
            "disk_free_bytes": _disk_free(journal_path),
        }
    return JSONResponse(body)


def _size(path: Path | None) -> int | None:
    try:
        return None if path is None else path.stat().st_size
    except OSError:
        return None


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/healthz/calls", healthz_calls, methods=["GET"]),
    Route("/healthz/details", healthz_details, methods=["GET"]),
]
