"""Requests to OpenAI-compatible APIs (speech to text, chat completions), shared by both.

:func:`post` sends one request with the install's key (``Authorization: Bearer``) and
returns the answer's JSON object. A ``429 Too Many Requests`` (or a 502/503/504 on the
way) is tried again after the answer's ``Retry-After`` (else 1 s, then 2 s), at most
:data:`TRIES` times and never waiting more than :data:`WAIT_MAX_S`; anything else that is
not a JSON object — another status, no answer within the timeout, a body that is not
JSON — raises :class:`ProviderError`, which the durable job keeps as its last error and
tries again later. The key never appears in an error.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx

TRIES = 3
WAIT_MAX_S = 30.0
RETRIED = frozenset({429, 502, 503, 504})
MESSAGE_MAX = 200


class ProviderError(Exception):
    """A provider's request that did not give a usable answer."""


def endpoint(base_url: str, path: str) -> str:
    """``{base}/{path}`` with one slash between them."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _wait_s(response: httpx.Response, attempt: int) -> float:
    """How long to wait before trying again: the answer's ``Retry-After`` in seconds (an
    HTTP date or nothing: 1 s, doubled each try), never more than :data:`WAIT_MAX_S`."""
    raw = response.headers.get("retry-after", "")
    try:
        wait = float(raw)
    except ValueError:
        wait = float(2**attempt)
    return min(max(wait, 0.0), WAIT_MAX_S)


def _message(response: httpx.Response) -> str:
    """What the provider said was wrong (``{"error": {"message": …}}``), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MESSAGE_MAX]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:MESSAGE_MAX]
    return str(body)[:MESSAGE_MAX]


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    api_key: str,
    timeout_s: float,
    **request: Any,
) -> dict[str, Any]:
    """POST ``request`` (``json=``, or ``data=`` and ``files=``) to ``url``; its JSON object."""
    host = urlsplit(url).netloc
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    for attempt in range(TRIES):
        try:
            response = await client.post(url, headers=headers, timeout=timeout_s, **request)
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{host}: no answer within {timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"{host}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in RETRIED and attempt < TRIES - 1:
            await asyncio.sleep(_wait_s(response, attempt))
            continue
        if response.status_code != 200:
            raise ProviderError(f"{host} answered {response.status_code}: {_message(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError(f"{host} answered something that is not JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError(f"{host} answered JSON that is not an object")
        return body
    raise AssertionError("unreachable: the last try returns or raises")
