"""`make run`'s promise in Chromium: numbers swap, and a demo call placed by a signed-in
user arrives matched."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.demo import DEMO_LOGIN
from tests.conftest import GUARD_OFF_ENV
from tests.support.browser import NOT_WEBDRIVER
from tests.support.server import Server, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("demo") / "callpath.db"
    url = f"sqlite:///{path}"
    assert run_cli("demo", database_url=url).returncode == 0
    server = Server(url, env_extra={**GUARD_OFF_ENV, "CALLPATH_DEMO_CALLS": "1"}).start()
    server.path = path  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_example_page_call_button_rings_the_swapped_number(
    demo_server: Server, page: Any, artifacts: Path
) -> None:
    page.context.add_init_script(NOT_WEBDRIVER)
    example = demo_server.url + "/examples/?utm_source=google&utm_medium=cpc&utm_term=歯医者"
    page.goto(example)
    page.wait_for_function("document.querySelector('#main-tel').textContent !== '03-1234-5678'")
    # Not signed in: the button only says to sign in first.
    page.click("#demo-call")
    page.wait_for_function(
        "document.getElementById('demo-call-status').textContent.startsWith('Sign in')"
    )
    page.goto(demo_server.url + "/login")
    page.fill("input[name=email]", DEMO_LOGIN[0])
    page.fill("input[name=password]", DEMO_LOGIN[1])
    page.click("button[type=submit]")
    page.wait_for_url(demo_server.url + "/dashboard")
    page.goto(example)
    page.wait_for_function("document.querySelector('#main-tel').textContent !== '03-1234-5678'")
    tracking = page.get_attribute("#main-tel", "href").removeprefix("tel:")
    page.click("#demo-call")
    page.wait_for_function(
        "document.getElementById('demo-call-status').textContent.startsWith('Ringing')"
    )
    page.screenshot(path=str(artifacts / "demo-call.png"))

    deadline = time.monotonic() + 20
    call = None
    while time.monotonic() < deadline:
        conn = sqlite3.connect(demo_server.path)  # type: ignore[attr-defined]
        conn.row_factory = sqlite3.Row
        try:
            call = conn.execute(
                "SELECT c.tracking_number, c.match_method, c.status, s.keyword"
                " FROM calls c LEFT JOIN sessions s ON s.id = c.session_id"
                " WHERE c.provider = 'demo'"
            ).fetchone()
        finally:
            conn.close()
        if call is not None and call["status"] in {"answered", "no-answer"}:
            break
        time.sleep(0.25)
    assert call is not None, "the demo call was never stored"
    assert call["tracking_number"] == tracking
    assert call["match_method"] == "lease"
    assert call["keyword"] == "歯医者"
    assert call["status"] in {"answered", "no-answer"}
