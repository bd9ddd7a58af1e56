"""Storage trouble seen by requests: what counts as it, and how it is told.

A request that cannot get storage in time (a locked table, a stalled server, a pool with
no free connection) or whose write fails (a full disk) is answered without storage where
it can be (an untracked visit). Each such failure is remembered here, for ``/healthz``,
and logged, but one identical failure repeated a thousand times a minute is logged once,
then once a minute with the count: a full disk was filling its own log with tracebacks.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field

import asyncpg

log = logging.getLogger("callpath.storage")

# What a request may meet when storage is slow or failing (and nothing else: a bug stays a
# bug, answered 500 and logged with its traceback).
STORAGE_TROUBLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)

# An identical failure is logged again at most this often, with how many there were.
LOG_EVERY_S = 60.0


@dataclass
class StorageTrouble:
    """Counts of storage failures by where they happened, and the last one."""

    failures: dict[str, int] = field(default_factory=dict)
    last_error: str = ""
    last_ms: int = 0
    _logged: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)

    def report(self, where: str, exc: BaseException) -> None:
        """Count ``exc`` met at ``where`` and log it unless it was logged a moment ago."""
        text = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
        self.failures[where] = self.failures.get(where, 0) + 1
        self.last_error = f"{where}: {text}"
        self.last_ms = int(time.time() * 1000)
        key = (where, text)
        now = time.monotonic()
        logged_at, repeats = self._logged.get(key, (0.0, 0))
        if logged_at and now - logged_at < LOG_EVERY_S:
            self._logged[key] = (logged_at, repeats + 1)
            return
        if len(self._logged) > 1000:  # bounded, whatever the errors say
            self._logged.clear()
        self._logged[key] = (now, 0)
        if repeats:
            log.error("storage trouble (%s): %s (and %d more like it)", where, text, repeats)
        else:
            log.error("storage trouble (%s): %s", where, text)

    def recent(self, within_ms: int = 60_000) -> bool:
        """Whether storage failed within the last ``within_ms`` milliseconds."""
        return bool(self.last_ms) and time.time() * 1000 - self.last_ms < within_ms


def storage_trouble(state: object) -> StorageTrouble:
    """The app's record of storage trouble (one per app, kept on its ``state``)."""
    trouble: StorageTrouble | None = getattr(state, "storage_trouble", None)
    if trouble is None:
        trouble = StorageTrouble()
        state.storage_trouble = trouble  # type: ignore[attr-defined]
    return trouble
