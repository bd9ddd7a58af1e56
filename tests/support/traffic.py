"""Steady traffic against a real server from a thread: visits and signed Twilio calls."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import httpx

from tests.support.browser import BROWSER_HEADERS
from tests.telephony.conftest import AUTH_TOKEN, call_params, sign

__all__ = ["AUTH_TOKEN", "Load"]


class Load:
    """Visits (eight clients) and signed Twilio calls (the server must know AUTH_TOKEN)
    against a real server, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.visits = 0
        self.calls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _visit(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            r = await client.post(
                self.url + "/v1/session",
                content=b'{"site":"demo","url":"http://127.0.0.1/examples/?utm_source=b"}',
                headers={"content-type": "text/plain", **BROWSER_HEADERS},
            )
            if r.status_code != 200:
                self.errors.append(f"visit {r.status_code} {r.text[:200]}")
            self.visits += 1

    async def _call(self, client: httpx.AsyncClient) -> None:
        url = self.url + "/twilio/voice"
        for n in itertools.count():
            if self._stop.is_set():
                return
            params = call_params(sid=f"CA{n:032d}", caller=f"+8190{n % 10**8:08d}")
            r = await client.post(
                url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
            )
            if r.status_code != 200 or "<Dial" not in r.text:
                self.errors.append(f"call {r.status_code} {r.text[:200]}")
            self.calls += 1
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            await asyncio.gather(*[self._visit(client) for _ in range(8)], self._call(client))

    def start(self) -> Load:
        self._thread.start()
        return self

    def wait_for(self, visits: int, calls: int) -> None:
        deadline = time.monotonic() + 60
        while (self.visits < visits or self.calls < calls) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.errors, self.errors[:3]

    def halt(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def stop(self) -> None:
        self.halt()
        assert not self.errors, self.errors[:3]
