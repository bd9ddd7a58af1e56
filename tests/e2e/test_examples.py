"""The example page in Chromium, through the real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import NOT_WEBDRIVER
from tests.support.server import Server

pytestmark = pytest.mark.e2e


def test_example_page_swaps_numbers(live_server: Server, page: Any, artifacts: Path) -> None:
    page.context.add_init_script(NOT_WEBDRIVER)
    page.goto(live_server.url + "/examples/")
    demo_numbers = {n for t in live_server.demo["targets"] for n in t["tracking_numbers"]}
    page.wait_for_function("document.querySelector('#main-tel').textContent !== '03-1234-5678'")
    href = page.get_attribute("#main-tel", "href")
    assert href in {f"tel:{n}" for n in demo_numbers}
    assert page.text_content("#fax") == "03-1234-5679"
    page.screenshot(path=str(artifacts / "example-page.png"))
