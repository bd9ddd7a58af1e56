"""Visit codes in real Chromium against a real server (issue #21): the tel: link of a
swapped number carries the visit's code while the text stays the number, and the signed
call with those digits (through the Twilio stand-in) is matched ``code`` to that visit
after the number has gone to another visitor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from attribution.tokens import SESSION_TOKEN, Signer
from tests.snippet.conftest import SnippetServer, Watched, serving_snippet
from tests.snippet.helpers import JP, SITE_KEY, TARGETS, TWILIO_AUTH_TOKEN, swapped_visit
from tests.support.server import TEST_SECRET_KEY
from tests.support.twilio import TwilioStandIn, verbs

pytestmark = pytest.mark.e2e

ONLY = TARGETS[0][1][0]  # the JP pool keeps this one number: the next visitor gets it


@pytest.fixture(scope="module")
def snippet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnippetServer]:
    """The snippet tests' server, with visit codes on for the demo site and a JP pool of one
    number that goes to the next visitor at once."""

    def codes_on(snippet: SnippetServer) -> None:
        snippet.sql("UPDATE sites SET visit_codes = 1 WHERE site_key = :k", {"k": SITE_KEY})
        snippet.sql(
            "DELETE FROM tracking_numbers WHERE number LIKE '+815017%' AND number <> :n",
            {"n": ONLY},
        )
        snippet.sql("UPDATE pools SET cooldown_ms = 0, grace_ms = 0")

    with serving_snippet(tmp_path_factory, "codes", prepare=codes_on) as snippet:
        yield snippet


def _session(token: str) -> int:
    value = Signer(TEST_SECRET_KEY, SESSION_TOKEN).read(token)
    assert isinstance(value, int)
    return value


def _open(server: SnippetServer, visit: Callable[..., Watched]) -> tuple[Watched, int]:
    w = swapped_visit(visit, server, "tel.html")
    cookie = next(c for c in w.page.context.cookies() if c["name"] == "callpath.demo")
    return w, _session(cookie["value"])


def test_a_tapped_tel_link_names_its_visit_after_the_number_went_to_another(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    a, session_a = _open(snippet_server, visit)
    ((code_a,),) = snippet_server.sql(
        "SELECT code FROM visit_codes WHERE session_id = :s", {"s": session_a}
    )
    # The link dials the number, a pause and the code; the text shows the number alone.
    href = a.page.get_attribute("#slashes", "href")
    assert href == f"tel:{ONLY},{code_a}"
    assert a.page.text_content("#main") == "050-1700-0001"
    assert "," not in str(a.page.text_content("#slashes"))
    # A link that had its own post-dial digits keeps them after the code.
    assert a.page.get_attribute("#pause", "href") == f"tel:{ONLY},{code_a},123"
    assert not a.script_errors()

    # A leaves; the one number goes to B, whose link carries B's code.
    a.page.context.close()
    snippet_server.end_leases()
    # As pool.leases.release stamps it: the number rests from now (no cooldown here).
    snippet_server.sql(
        "UPDATE tracking_numbers SET last_released_ms = 0 WHERE number = :n", {"n": ONLY}
    )
    b, session_b = _open(snippet_server, visit)
    assert session_b != session_a
    ((code_b,),) = snippet_server.sql(
        "SELECT code FROM visit_codes WHERE session_id = :s", {"s": session_b}
    )
    assert b.page.get_attribute("#slashes", "href") == f"tel:{ONLY},{code_b}"
    holder = snippet_server.sql(
        "SELECT l.session_id FROM leases l JOIN tracking_numbers n ON n.id = l.number_id"
        " WHERE n.number = :n AND l.ended_ms IS NULL",
        {"n": ONLY},
    )
    assert holder == [(session_b,)]

    # A's phone dials A's link: the number, then A's code after the pause.
    number, digits = str(href).removeprefix("tel:").split(",")

    async def tapped() -> Any:
        async with httpx.AsyncClient(base_url=snippet_server.url, timeout=20) as client:
            twilio = TwilioStandIn(client, TWILIO_AUTH_TOKEN, snippet_server.url)
            return await twilio.call(
                to=number,
                caller="+819012340000",
                sid="CA" + "21" * 16,
                post_dial=digits,
                pause_s=1,
            )

    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(asyncio.run, tapped()).result()
    assert verbs(call) == [["Gather", "Redirect"], ["Dial"]]
    assert call.dialled == JP and call.waited_s <= 2
    deadline = time.monotonic() + 20
    rows: list[tuple[Any, ...]] = []
    while not rows and time.monotonic() < deadline:
        rows = snippet_server.sql(
            "SELECT session_id, match_method, match_confidence, code_digits FROM calls"
            " WHERE provider_call_id = :c AND match_method <> 'none'",
            {"c": "CA" + "21" * 16},
        )
        time.sleep(0.2)
    assert rows == [(session_a, "code", "exact", code_a)]
