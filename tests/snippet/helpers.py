"""Values and helpers the snippet tests share."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pool.numbers import formats

SITE_KEY = "demo"
POOL_SIZE = 40
HEARTBEAT_SECONDS = 1
TWILIO_AUTH_TOKEN = "snippet-twilio-token"

# (target, tracking numbers): JP geographic -> 050, JP toll-free -> 0120, US -> 212.
TARGETS: list[tuple[str, list[str]]] = [
    ("+81312345678", [f"+815017{n:06d}" for n in range(1, POOL_SIZE + 1)]),
    ("+81120123456", [f"+81120100{n:03d}" for n in range(1, POOL_SIZE + 1)]),
    ("+12125550100", [f"+1212555{n:04d}" for n in range(101, 101 + POOL_SIZE)]),
]
JP, FREE, US = (t for t, _ in TARGETS)
# True once the snippet has swapped the page's main number (shown as 03-1234-5678).
SWAPPED = "document.getElementById('main').textContent !== '03-1234-5678'"


_W = TypeVar("_W")


def swapped_visit(visit: Callable[..., _W], server: Any, page: str) -> _W:
    """A new watched visit of ``server``'s ``page``, once the main number is swapped."""
    w: Any = visit()
    w.page.goto(server.page_url(page))
    w.page.wait_for_function(SWAPPED)
    return w  # type: ignore[no-any-return]


def national_groups(e164: str) -> list[str]:
    """Digit groups of a number's national format, via phonenumbers (050, 1700, 0001)."""
    return re.findall(r"\d+", formats(e164).national)


def wide(text: str) -> str:
    """Full-width digits for ASCII ones."""
    return text.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"})


def hyphenated(e164: str) -> str:
    """A number's national format with hyphens between its groups (050-1700-0001)."""
    return "-".join(national_groups(e164))


def leased(w: Any, target: str) -> str:
    """The tracking number the visit of the watched page ``w`` got for ``target``, from
    its /v1/session answers (numbers are leased when their target shows on the page:
    wait for the answer)."""
    for request in w.calls("/v1/session"):
        response = request.response()
        if response is not None and response.ok:
            for swap in response.json()["swaps"]:
                if swap["target"] == target:
                    return str(swap["number"])
    raise AssertionError(f"no swap for {target}")
