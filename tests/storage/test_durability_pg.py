"""A server on PostgreSQL killed with SIGKILL under load loses no acknowledged write."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from attribution.tokens import SESSION_TOKEN, Signer
from backend.storage import open_database
from bench._load import BROWSER_UA
from tests.support.server import TEST_SECRET_KEY, Server, run_cli

pytestmark = pytest.mark.e2e


async def _hammer(url: str, stop_at: float, acked: list[tuple[int, list[str]]]) -> None:
    signer = Signer(TEST_SECRET_KEY, SESSION_TOKEN)
    headers = {"content-type": "text/plain", "user-agent": BROWSER_UA, "accept-language": "ja"}
    async with httpx.AsyncClient(timeout=60.0) as client:
        while time.monotonic() < stop_at:
            try:
                r = await client.post(
                    url + "/v1/session",
                    content=b'{"site":"demo","url":"http://127.0.0.1/examples/"}',
                    headers=headers,
                )
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                data = r.json()
                session_id = signer.read(data["token"])
                assert isinstance(session_id, int)
                acked.append((session_id, [s["number"] for s in data["swaps"]]))


async def test_sigkill_on_postgresql_loses_no_acknowledged_session_or_lease(
    pg_database_url: str,
) -> None:
    seeded = await asyncio.to_thread(run_cli, "demo", "--json", database_url=pg_database_url)
    assert seeded.returncode == 0, seeded.stderr
    server = Server(pg_database_url)
    await asyncio.to_thread(server.start)
    acked: list[tuple[int, list[str]]] = []
    stop_at = time.monotonic() + 30
    workers = [asyncio.create_task(_hammer(server.url, stop_at, acked)) for _ in range(8)]
    while len(acked) < 150 and time.monotonic() < stop_at:  # noqa: ASYNC110 - a plain list
        await asyncio.sleep(0.02)
    server.kill()  # mid-stream: requests are in flight
    await asyncio.gather(*workers)
    assert len(acked) >= 150

    db = await open_database(pg_database_url, migrate=False)
    try:
        stored = {r["id"] for r in await db.fetchall("SELECT id FROM sessions")}
        viewed = {r["session_id"] for r in await db.fetchall("SELECT session_id FROM page_views")}
        leased = {
            (r["session_id"], r["number"])
            for r in await db.fetchall(
                "SELECT l.session_id, n.number FROM leases l"
                " JOIN tracking_numbers n ON n.id = l.number_id"
            )
        }
    finally:
        await db.close()
    ids = {session_id for session_id, _ in acked}
    assert not ids - stored, f"{len(ids - stored)} acknowledged sessions lost"
    assert ids <= viewed
    handed_out = {(s, number) for s, swaps in acked for number in swaps}
    assert handed_out, "some acknowledged sessions were given numbers"
    assert not handed_out - leased, "an acknowledged lease was lost"

    # And a new server starts on the same database.
    again = Server(pg_database_url)
    await asyncio.to_thread(again.start)
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(again.url + "/healthz")).json()["ok"] is True
    finally:
        again.stop()
