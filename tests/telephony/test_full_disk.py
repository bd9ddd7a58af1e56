"""A full disk (issue #25, item 3): health says so, visits and calls are still answered,
and once space returns nothing that was acknowledged is lost.

The database and the call journal live on a small tmpfs mounted for the test (root only;
skipped where the machine does not allow mounting).
"""

from __future__ import annotations

import contextlib
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend import create_app
from backend.demo import seed_demo
from backend.settings import Settings
from tests.support.browser import BROWSER_HEADERS
from tests.telephony.conftest import AUTH_TOKEN, BASE, TARGET, call_params, post_twilio

pytestmark = pytest.mark.stores("sqlite")

VISIT = {"site": "demo", "url": "http://127.0.0.1/examples/?gclid=disk", "referrer": ""}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until the disk is full."""
    with path.open("wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()


async def test_a_full_disk_is_reported_and_nothing_acknowledged_is_lost(
    small_disk: Path,
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{small_disk / 'callpath.db'}",
        secret_key="test-secret-" + "x" * 32,
        log_level="warning",
        ip_rate_per_minute=0,
        ip_max_live_sessions=0,
        twilio_auth_token=AUTH_TOKEN,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await seed_demo(app.state.db, settings)
        telephony = app.state.telephony
        await telephony.table.load()
        telephony.recorder.write_timeout_s = 0.3
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers=BROWSER_HEADERS
        ) as client:
            before = await client.post("/v1/session", json=VISIT)
            assert before.json()["swaps"]  # acknowledged: a number was leased
            assert (await client.get("/healthz")).status_code == 200

            filler = small_disk / "filler"
            _fill(filler)
            visits = [await client.post("/v1/session", json=VISIT) for _ in range(20)]
            assert all(v.status_code == 200 for v in visits)  # never a 500
            beat = await client.post("/v1/heartbeat", json={"token": before.json()["token"]})
            assert beat.status_code == 503  # the snippet keeps its number and beats again
            assert beat.json()["error"]["code"] == "storage_unavailable"
            call = await post_twilio(client, "/twilio/voice", call_params(sid="CAFULL1"))
            assert call.status_code == 200
            assert ET.fromstring(call.text).find("Dial").findtext("Number") == TARGET

            health = await client.get("/healthz")
            assert health.status_code == 503 and "writes failing" in health.json()["storage"]
            assert (await client.get("/healthz/calls")).status_code == 200
            details = (await client.get("/healthz/details")).json()
            assert details["storage"]["writable"] is False
            assert details["storage"]["disk_free_bytes"] < 256 * 1024

            filler.unlink()  # space returns
            assert await telephony.recorder.drain(20)
            after = await client.post("/v1/session", json=VISIT)
            assert after.json()["swaps"]
            db: Any = app.state.db
            assert (
                await db.fetchval("SELECT COUNT(*) FROM calls WHERE provider_call_id = 'CAFULL1'")
                == 1
            )
            assert await db.fetchval("PRAGMA integrity_check") == "ok"
            # The visit acknowledged before the disk filled is still there with its lease.
            assert await db.fetchval("SELECT COUNT(*) FROM leases") >= 2
