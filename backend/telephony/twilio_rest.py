"""The ``twilio`` library's asynchronous HTTP client on httpx, with a base URL of our own.

Imported when the first text is sent (:class:`backend.telephony.sms.Sms`): the library's
REST and HTTP modules are not needed to answer calls.
"""

from __future__ import annotations

import logging

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse

from backend.telephony.sms import TWILIO_API

log = logging.getLogger("callpath.sms")


class RestHttpClient(AsyncHttpClient):  # type: ignore[misc]
    """The ``twilio`` library's asynchronous HTTP client, on httpx, with a base URL.

    The library builds ``https://api.twilio.com/2010-04-01/...``; requests go to
    ``base_url`` + the same path. ``transport``: an httpx transport (tests only).
    """

    def __init__(
        self,
        base_url: str = TWILIO_API,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(logger=log, is_async=True, timeout=timeout_s)
        self.base_url = (base_url or TWILIO_API).rstrip("/")
        self._client = httpx.AsyncClient(
            timeout=timeout_s, transport=transport, follow_redirects=False
        )

    def rebase(self, url: str) -> str:
        """``url`` at this client's base (other hosts are left alone)."""
        if url.startswith(TWILIO_API):
            return self.base_url + url[len(TWILIO_API) :]
        return url

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the library's signature
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        """One request of the library, answered in its own ``Response``."""
        response = await self._client.request(
            method,
            self.rebase(url),
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
        )
        return TwilioResponse(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        """Close the connections."""
        await self._client.aclose()
