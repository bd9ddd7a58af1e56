"""The first run in Chromium, from an empty database to a call on the dashboard.

A real ``callpath serve`` over a database nobody has touched. Everything a new customer
does happens in the browser: the set-up code is read from the server's console (where the
operator sees it), the administrator, advertiser, site, business number and tracking
numbers are created through the dashboard's forms, and the snippet tag copied from the
site page is pasted into a page of "the customer's site" (a folder the server serves, as
a web team would publish it). A visitor's browser opens that page and sees a tracking
number; the checklist says where the tag was seen; a test call placed from the dashboard
appears in the call log.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import GUARD_OFF_ENV
from tests.support.browser import NOT_WEBDRIVER
from tests.support.server import Server

pytestmark = pytest.mark.e2e

CODE = re.compile(r"set-up code ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})")
BUSINESS = "03-1234-5678"
TRACKING = ["050-1111-0001", "050-1111-0002", "050-1111-0003"]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def read_setup_code(server: Server, timeout: float = 20.0) -> str:
    """The one-time code from the server's console output (its stderr)."""
    assert server.proc is not None and server.proc.stderr is not None
    stream = server.proc.stderr
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            line = stream.readline()
            seen += line
            found = CODE.search(line.decode(errors="replace"))
            if found:
                return found.group(1)
    raise AssertionError(f"no set-up code in the server's output: {seen!r}")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A server over an empty database, serving ``site/`` as the customer's pages."""
    site = tmp_path / "site"
    site.mkdir()
    server = Server(
        f"sqlite:///{tmp_path / 'callpath.db'}",
        env_extra={**GUARD_OFF_ENV, "CALLPATH_EXAMPLES_DIR": str(site)},
    ).start()
    try:
        yield server, site
    finally:
        server.stop()


def test_first_run_from_an_empty_database_to_a_call(
    fresh: tuple[Server, Path], browser: Any, artifacts: Path
) -> None:
    server, site = fresh
    code = read_setup_code(server)
    admin = browser.new_context()
    page = admin.new_page()
    page.set_viewport_size({"width": 1360, "height": 1000})

    # The root of a fresh install is the one-time set-up.
    page.goto(server.url + "/")
    page.wait_for_url("**/setup")
    page.fill("input[name=code]", "WRONG-CODE-0000")
    page.fill("input[name=email]", "owner@clinic.example")
    page.fill("input[name=password]", "a long enough password")
    page.click("button[type=submit]")
    expect(page.locator("p.alert")).to_contain_text("wrong")
    page.fill("input[name=code]", code.lower())
    page.fill("input[name=password]", "a long enough password")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    expect(page.locator("#getting-started")).to_be_visible()
    page.screenshot(path=str(artifacts / "first-run-checklist.png"), full_page=True)

    # 1. An advertiser.
    page.click("#step-advertiser a")
    page.wait_for_url("**/dashboard/advertisers")
    page.fill("form[action='/dashboard/advertisers'] input[name=name]", "Sakura Clinic")
    page.click("form[action='/dashboard/advertisers'] button[type=submit]")
    page.goto(server.url + "/dashboard")
    expect(page.locator("#step-advertiser")).to_have_class("done")

    # 2. A site, and its snippet tag.
    page.click("#step-site a")
    page.wait_for_url("**/dashboard/settings/sites")
    page.fill("form[action='/dashboard/settings/sites'] input[name=name]", "Sakura Clinic")
    page.fill("form[action='/dashboard/settings/sites'] input[name=domains]", "127.0.0.1")
    page.click("form[action='/dashboard/settings/sites'] button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard/settings/sites/\d+$"))
    tag = page.inner_text("#snippet-tag")
    assert 'data-site="' in tag and "/dni.js" in tag
    expect(page.locator("#tag-seen")).to_contain_text("Not seen yet")

    # 3. The business number shown on the site's pages.
    page.fill("form[action$='/targets'] input[name=number]", BUSINESS)
    page.click("form[action$='/targets'] button[type=submit]")
    expect(page.locator("table.data td.mono", has_text=BUSINESS)).to_be_visible()

    # 4. Tracking numbers, pasted all at once.
    page.goto(server.url + "/dashboard")
    page.click("#step-numbers a")
    page.wait_for_url("**/dashboard/settings/numbers")
    expect(page.locator("#numbers-help")).to_contain_text("/twilio/voice")
    page.fill("#bulk-form textarea[name=numbers]", "\n".join(TRACKING))
    page.click("#bulk-form button[type=submit]")
    expect(page.locator("#numbers-added")).to_contain_text("3")

    # 5. The web team pastes the tag into a page of the site; a visitor opens it.
    (site / "contact.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Sakura Clinic</title></head>"
        f"<body><p>Call <a id='tel' href='tel:{BUSINESS}'>{BUSINESS}</a></p>\n{tag}\n"
        "</body></html>",
        encoding="utf-8",
    )
    visitor = browser.new_context()
    visitor.add_init_script(NOT_WEBDRIVER)
    shop = visitor.new_page()
    shop.goto(server.url + "/examples/contact.html?utm_source=google&utm_term=dentist")
    shop.wait_for_function(f"document.querySelector('#tel').textContent !== '{BUSINESS}'")
    shown = shop.inner_text("#tel")
    assert _digits(shown) in {_digits(n) for n in TRACKING}
    shop.screenshot(path=str(artifacts / "first-run-swapped.png"))

    page.goto(server.url + "/dashboard")
    expect(page.locator("#step-tag")).to_have_class("done")
    expect(page.locator("#step-tag")).to_contain_text(f"tag seen on {server.url} at")

    # 6. A test call to the number the visitor was shown, from the dashboard.
    option = page.locator("#test-call-form select[name=number] option").first
    assert _digits(option.inner_text()) == _digits(shown)
    page.click("#test-call-form button[type=submit]")
    page.wait_for_url("**/dashboard/calls?test_call=1")
    row = page.locator("tbody tr", has_text=shown)
    deadline = time.monotonic() + 30
    while row.count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(row.first).to_contain_text("google")  # matched to the visit and its source
    page.screenshot(path=str(artifacts / "first-run-call.png"), full_page=True)
    page.goto(server.url + "/dashboard")
    expect(page.locator("#getting-started")).to_have_count(0)
    visitor.close()
    admin.close()
