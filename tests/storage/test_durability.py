"""A server killed with SIGKILL while it writes loses no acknowledged write."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from attribution.tokens import SESSION_TOKEN, Signer
from tests.support.browser import BROWSER_HEADERS
from tests.support.server import TEST_SECRET_KEY, Server, run_cli

pytestmark = pytest.mark.e2e


async def _hammer(url: str, stop_at: float, acked: list[int]) -> None:
    signer = Signer(TEST_SECRET_KEY, SESSION_TOKEN)
    async with httpx.AsyncClient(timeout=5.0) as client:
        while time.monotonic() < stop_at:
            try:
                r = await client.post(
                    url + "/v1/session",
                    content=(b'{"site":"demo","url":"http://127.0.0.1/examples/"}'),
                    headers={"content-type": "text/plain", **BROWSER_HEADERS},
                )
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                session_id = signer.read(r.json()["token"])
                assert isinstance(session_id, int)
                acked.append(session_id)


def test_sigkill_while_writing_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db_path = tmp_path / "kill.db"
    url = f"sqlite:///{db_path}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    server = Server(url).start()
    acked: list[int] = []

    async def load() -> None:
        stop_at = time.monotonic() + 30
        workers = [asyncio.create_task(_hammer(server.url, stop_at, acked)) for _ in range(8)]
        while len(acked) < 150:  # noqa: ASYNC110 - polling a plain list filled by the workers
            await asyncio.sleep(0.02)
        server.kill()  # mid-stream: requests are in flight
        await asyncio.gather(*workers)

    asyncio.run(load())
    assert len(acked) >= 150

    # The file opens cleanly, passes an integrity check, and holds every acknowledged write.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT id FROM sessions")}
        views = {row[0] for row in conn.execute("SELECT session_id FROM page_views")}
    finally:
        conn.close()
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged sessions lost"
    assert set(acked) <= views

    # And the server starts again on it.
    again = Server(url).start()
    try:
        assert httpx.get(again.url + "/healthz").json()["ok"] is True
    finally:
        again.stop()
