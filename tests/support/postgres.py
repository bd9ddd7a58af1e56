"""A real PostgreSQL server for the tests: a fresh database per test, dropped afterwards.

The server is named by ``CALLPATH_TEST_PG_URL`` (default: the local one on 127.0.0.1:5432
with trust authentication, user ``postgres``). ``make test`` runs
``scripts/ensure-postgres.sh`` first, which starts or installs one when none listens.
Databases are created from ``template0`` under a random name ``callpath_test_<hex>``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


def admin_url() -> str:
    """URL of a database on the test server that a superuser may connect to."""
    return os.environ.get("CALLPATH_TEST_PG_URL") or DEFAULT_ADMIN_URL


def selected_stores() -> list[str]:
    """The stores the in-process tests run against (``CALLPATH_TEST_STORES``)."""
    raw = os.environ.get("CALLPATH_TEST_STORES", "sqlite,postgresql")
    stores = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = set(stores) - {"sqlite", "postgresql"}
    if unknown:
        raise ValueError(f"CALLPATH_TEST_STORES: unknown store(s) {sorted(unknown)}")
    return stores


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on a loop of its own thread.

    A thread keeps it clear of the event loop pytest-asyncio may have set for the test.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def database_url(name: str, base: str | None = None, **query: str) -> str:
    """The admin URL pointed at database ``name`` (with optional query options)."""
    parts = urlsplit(base or admin_url())
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, q, ""))


async def _admin_execute(sql: str) -> None:
    conn = await asyncpg.connect(admin_url(), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def unreachable_reason() -> str | None:
    """Why the test server cannot be used, or None when it answers."""
    try:
        run_sync(_admin_execute("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {admin_url()} is not reachable: {exc}"
    return None


def create_database() -> str:
    """Create an empty database; return its name."""
    name = f"callpath_test_{secrets.token_hex(6)}"
    run_sync(_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    return name


def drop_database(name: str) -> None:
    """Drop a test database, ending any connection still open on it."""
    run_sync(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
