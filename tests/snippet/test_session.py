"""The visit's session: failures, consent, storage, heartbeat, lease loss, anti-flicker."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from attribution.tokens import SESSION_TOKEN, Signer
from tests.snippet.conftest import SnippetServer, Watched
from tests.snippet.helpers import JP, SWAPPED, hyphenated, swapped_visit
from tests.support.server import TEST_SECRET_KEY

pytestmark = pytest.mark.e2e

ORIGINALS = {
    "#main": "03-1234-5678",
    "#free": "0120-123-456",
    "#us": "(212) 555-0100",
    "#fax": "FAX 03-1234-5679",
}


def texts(page: Any) -> dict[str, str]:
    return {selector: page.text_content(selector) for selector in ORIGINALS}


def tracking(page: Any) -> str:
    """The tracking number on the page's tel: link (E.164)."""
    return str(page.get_attribute("#tel", "href")).removeprefix("tel:")


def settle(page: Any, seconds: float = 0.5) -> None:
    """Give the page time to do anything it would do; nothing is asserted about timing."""
    page.wait_for_timeout(seconds * 1000)


def set_hidden(page: Any, hidden: bool) -> None:
    """Make the page report itself hidden or visible, and tell it, as a tab switch would."""
    page.evaluate(
        """hidden => {
          Object.defineProperty(document, 'hidden', {get: () => hidden, configurable: true});
          Object.defineProperty(document, 'visibilityState',
                                {get: () => hidden ? 'hidden' : 'visible', configurable: true});
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


# ---- the backend fails: the originals stay and nothing is logged ----------------------------


@pytest.mark.parametrize("failure", ["abort", "500", "garbage"])
def test_a_failing_backend_leaves_the_originals(
    snippet_server: SnippetServer, visit: Callable[..., Watched], failure: str
) -> None:
    w = visit()

    def fail(route: Any) -> None:
        if failure == "abort":
            route.abort()
        elif failure == "500":
            route.fulfill(status=500, content_type="application/json", body='{"error": {}}')
        else:
            route.fulfill(status=200, content_type="application/json", body="<html>oops")

    w.page.route("**/v1/session", fail)
    with w.page.expect_request("**/v1/session"):
        w.page.goto(snippet_server.page_url("plain.html"))
    settle(w.page)
    assert texts(w.page) == ORIGINALS
    assert w.page.get_attribute("#tel", "href") == "tel:+81312345678"
    assert w.script_errors() == []


def test_a_hanging_backend_leaves_the_originals(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.route("**/v1/session", lambda route: None)  # never answered
    with w.page.expect_request("**/v1/session"):
        w.page.goto(snippet_server.page_url("plain.html"))
    settle(w.page, 1.0)
    assert texts(w.page) == ORIGINALS
    assert w.script_errors() == []


def test_an_unknown_site_key_leaves_the_originals(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    with w.page.expect_response("**/v1/session") as answer:
        w.page.goto(snippet_server.page_url("unknown.html"))
    assert answer.value.status == 404  # the real server's answer
    settle(w.page)
    assert texts(w.page) == ORIGINALS
    assert w.script_errors() == []


# ---- what is sent ----------------------------------------------------------------------------


def test_the_session_request_is_plain_text_json_with_ga_and_title(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.context.add_cookies(
        [{"name": "_ga", "value": "GA1.1.123456789.1700000000", "url": snippet_server.url}]
    )
    with w.page.expect_request("**/v1/session") as sent:
        w.page.goto(snippet_server.page_url("plain.html") + "?gclid=abc")
    request = sent.value
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("text/plain")
    body = json.loads(request.post_data)
    assert body == {
        "site": "demo",
        "url": snippet_server.page_url("plain.html") + "?gclid=abc",
        "referrer": "",
        "title": "plain",
        "ga": "GA1.1.123456789.1700000000",  # the backend reads the client id
        # The phone-shaped digit runs of the page, for lease on demand (the fax too: the
        # snippet cannot tell targets before the answer).
        "found": ["0312345678", "0120123456", "2125550100", "0312345679", "81312345678"],
        "seen": [],  # nothing swapped yet: the targets shown come with later page views
    }
    w.page.wait_for_function(SWAPPED)


def test_webdriver_visitors_are_not_tracked(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit(webdriver=True)  # Playwright's own navigator.webdriver = true
    w.page.goto(snippet_server.page_url("plain.html"))
    settle(w.page)
    assert w.calls("/v1/session") == [] and w.calls("/v1/heartbeat") == []
    assert texts(w.page) == ORIGINALS


# ---- consent -----------------------------------------------------------------------------------


def test_nothing_is_sent_or_stored_before_consent(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.goto(snippet_server.page_url("consent.html"))
    settle(w.page)
    assert [r.url for r in w.requests if "/v1/" in r.url] == []
    assert w.page.evaluate("sessionStorage.length") == 0
    assert w.page.context.cookies() == []
    assert texts(w.page) == ORIGINALS

    w.page.evaluate("callpath('consent', true)")
    w.page.wait_for_function(SWAPPED)
    assert len(w.calls("/v1/session")) == 1
    assert w.page.evaluate("sessionStorage.getItem('callpath.demo')")

    # Withdrawn: the visit is forgotten and the originals come back.
    w.page.evaluate("callpath('consent', false)")
    assert texts(w.page) == ORIGINALS
    assert w.page.get_attribute("#tel", "href") == "tel:+81312345678"
    assert not w.page.evaluate("sessionStorage.getItem('callpath.demo')")
    before = len(w.requests)
    settle(w.page, 1.5)  # longer than the heartbeat
    assert [r.url for r in w.requests[before:] if "/v1/" in r.url] == []


def test_consent_queued_before_the_snippet_loads(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "consent-queued.html")
    assert w.script_errors() == []


# ---- later page views --------------------------------------------------------------------------


def test_a_second_page_view_swaps_without_a_session_request(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "plain.html")
    first = texts(w.page), tracking(w.page)
    assert len(w.calls("/v1/session")) == 1

    w.requests.clear()
    with w.page.expect_request("**/v1/heartbeat") as beat:
        w.page.goto(snippet_server.page_url("plain.html") + "?page=2")
        # Swapped by the time the load event fires: no request was awaited.
        assert (texts(w.page), tracking(w.page)) == first
    assert w.calls("/v1/session") == []
    # The heartbeat that confirms the lease also tells the backend about the page, which
    # puts it in the visit's click path.
    body = json.loads(beat.value.post_data)
    assert body["url"].endswith("?page=2")
    assert beat.value.response().status == 200
    session_id = Signer(TEST_SECRET_KEY, SESSION_TOKEN).read(body["token"])
    path = snippet_server.sql(
        "SELECT url FROM page_views WHERE session_id = :s ORDER BY id", {"s": session_id}
    )
    assert [url.rsplit("/", 1)[-1] for (url,) in path] == ["plain.html", "plain.html?page=2"]


def test_a_new_tab_continues_the_visit(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "plain.html")
    other = w.page.context.new_page()
    # A new tab has no copy of the numbers (sessionStorage is per tab): it asks with the
    # cookie's token, and the session continues with the same numbers.
    with other.expect_request("**/v1/session") as sent:
        other.goto(snippet_server.page_url("plain.html"))
    other.wait_for_function(SWAPPED)
    assert tracking(other) == tracking(w.page)
    assert texts(other) == texts(w.page)
    token = json.loads(sent.value.post_data)["token"]
    assert token == w.page.evaluate("JSON.parse(sessionStorage.getItem('callpath.demo')).t")


# ---- heartbeat and lease loss --------------------------------------------------------------------


def test_heartbeats_while_visible_and_none_while_hidden(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "plain.html")
    for _ in range(2):  # the server asks for one every second
        with w.page.expect_request("**/v1/heartbeat", timeout=10_000):
            pass
    set_hidden(w.page, True)
    settle(w.page, 0.3)  # one may have been on its way already
    count = len(w.calls("/v1/heartbeat"))
    settle(w.page, 2.5)
    assert len(w.calls("/v1/heartbeat")) == count
    with w.page.expect_request("**/v1/heartbeat", timeout=5_000):
        set_hidden(w.page, False)
    body = json.loads(w.calls("/v1/heartbeat")[-1].post_data)
    assert set(body) == {"token"}


def test_a_lost_lease_gets_a_new_number(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "plain.html")
    old = tracking(w.page)
    with w.page.expect_response(lambda r: r.url.endswith("/v1/heartbeat") and r.status == 410):
        snippet_server.end_leases()
    w.page.wait_for_function(
        "old => document.getElementById('tel').getAttribute('href') !== 'tel:' + old", arg=old
    )
    new = tracking(w.page)
    assert new != old and new in snippet_server.tracking[JP]
    assert w.page.text_content("#main") == hyphenated(new)
    assert w.page.text_content("#fax") == ORIGINALS["#fax"]
    assert w.script_errors() == []


def test_originals_come_back_when_the_lease_is_lost_for_good(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    answered: list[int] = []

    def first_only(route: Any) -> None:
        if answered:
            route.fulfill(status=503, body="down")
        else:
            answered.append(1)
            route.continue_()

    w.page.route("**/v1/session", first_only)
    w.page.goto(snippet_server.page_url("plain.html"))
    w.page.wait_for_function(SWAPPED)
    snippet_server.end_leases()
    w.page.wait_for_function("document.getElementById('main').textContent === '03-1234-5678'")
    assert texts(w.page) == ORIGINALS
    assert w.page.get_attribute("#tel", "href") == "tel:+81312345678"
    assert w.script_errors() == []


# ---- anti-flicker --------------------------------------------------------------------------------


def test_hide_hides_numbers_until_the_answer(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "hide.html")
    hidden = set(w.page.evaluate("hiddenIds"))
    assert {"main", "free", "us"} <= hidden
    assert "words" not in hidden
    visibility = w.page.evaluate(
        "[...document.querySelectorAll('p')].map(p => getComputedStyle(p).visibility)"
    )
    assert set(visibility) == {"visible"}
    assert w.page.evaluate("document.querySelectorAll('[data-callpath-hide]').length") == 0


def test_hide_gives_up_after_one_second(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.route("**/v1/session", lambda route: None)  # never answered
    w.page.goto(snippet_server.page_url("hide.html"))
    w.page.wait_for_function("hiddenIds.includes('main')")
    w.page.wait_for_function(
        "getComputedStyle(document.getElementById('main')).visibility === 'visible'"
    )
    # Nothing answered, so only the one-second fallback can have shown it again.
    assert texts(w.page) == ORIGINALS
    assert w.script_errors() == []


# ---- a first-party cookie shared across subdomains ---------------------------------------------


def test_cookie_domain_shares_the_visit_across_subdomains(
    snippet_server: SnippetServer, browser_with_hosts: Any
) -> None:
    from tests.support.browser import NOT_WEBDRIVER

    ctx = browser_with_hosts.new_context()
    ctx.add_init_script(NOT_WEBDRIVER)
    try:
        port = snippet_server.server.port
        a = ctx.new_page()
        a.goto(f"http://a.callpath.test:{port}/examples/t/cookie.html")
        a.wait_for_function(SWAPPED)
        cookie = next(c for c in ctx.cookies() if c["name"] == "callpath.demo")
        assert cookie["domain"] == ".callpath.test" and cookie["sameSite"] == "Lax"
        # The cookie holds the signed token only, never the numbers.
        assert Signer(TEST_SECRET_KEY, SESSION_TOKEN).read(cookie["value"])
        b = ctx.new_page()
        sessions: list[str] = []
        b.on("request", lambda r: "/v1/session" in r.url and sessions.append(r.post_data))
        b.goto(f"http://b.callpath.test:{port}/examples/t/cookie.html")
        b.wait_for_function(SWAPPED)
        assert b.text_content("#main") == a.text_content("#main")
        assert b.get_attribute("#tel", "href") == a.get_attribute("#tel", "href")
        assert b.text_content("#us") == a.text_content("#us") != ORIGINALS["#us"]
        # Another subdomain is another origin, with its own tab cache: it asks for the
        # session of the cookie's token, and the session continues with the same numbers.
        assert [json.loads(body).get("token") for body in sessions] == [cookie["value"]]
    finally:
        ctx.close()
