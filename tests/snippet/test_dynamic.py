"""Numbers that appear after load: lazy content, route changes, popups, re-renders."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.snippet.conftest import SnippetServer, Watched
from tests.snippet.helpers import FREE, JP, US, hyphenated, leased, national_groups

pytestmark = pytest.mark.e2e


def text_is(page: Any, selector: str, expected: str) -> None:
    page.wait_for_function(
        "([s, e]) => document.querySelector(s) && document.querySelector(s).textContent === e",
        arg=[selector, expected],
    )


def open_dynamic(snippet_server: SnippetServer, visit: Callable[..., Watched]) -> Watched:
    w = visit()
    w.page.goto(snippet_server.page_url("dynamic.html"))
    w.page.wait_for_function(
        "document.getElementById('home-number').textContent !== '03-1234-5678'"
    )
    return w


def lazy_number_swapped(w: Watched) -> None:
    """Wait for the number the page adds two seconds after load to be swapped, in its own
    format, for the number leased for its target."""
    w.page.wait_for_function(
        "(document.getElementById('lazy') || {}).textContent > '' &&"
        " document.getElementById('lazy').textContent !== '(212) 555-0100'"
    )
    a, b, c = national_groups(leased(w, US))
    text_is(w.page, "#lazy", f"({a}) {b}-{c}")


def answered(w: Watched) -> list[dict[str, str]]:
    """Every swap the /v1/session answers gave so far."""
    return [
        swap
        for request in w.calls("/v1/session")
        if (response := request.response()) is not None and response.ok
        for swap in response.json()["swaps"]
    ]


def page_view_beat(request: Any) -> bool:
    """A heartbeat that reports a page view (it carries the page's url)."""
    return request.url.endswith("/v1/heartbeat") and "url" in json.loads(request.post_data)


def test_a_number_inserted_two_seconds_after_load(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_dynamic(snippet_server, visit)
    # The number is not on the page at first: no number is leased for it until it shows.
    assert not any(s["target"] == US for s in answered(w))
    lazy_number_swapped(w)
    assert len(w.calls("/v1/session")) == 2
    assert w.script_errors() == []


def test_a_route_change_swaps_the_new_view_and_counts_as_a_page_view(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_dynamic(snippet_server, visit)
    with w.page.expect_request("**/v1/session") as sent:
        w.page.click("#go-contact")
    text_is(w.page, "#route-number", "フリーダイヤル " + hyphenated(leased(w, FREE)))
    assert w.page.get_attribute("#route-tel", "href") == "tel:" + leased(w, FREE)
    # The session continues: the new view shows a number not seen yet, so the snippet asks
    # /v1/session for it (lease on demand) with the visit's token, and that request tells
    # the backend about the new page (no page-view heartbeat on top of it).
    body = json.loads(sent.value.post_data)
    assert body["url"].endswith("/examples/t/contact") and body["token"]
    assert body["found"] == ["0120123456"]
    assert len(w.calls("/v1/session")) == 2
    # ... and the backend put it in the visit's click path.
    assert sent.value.response().status == 200
    settle_ms = 1500  # past the page-view debounce: no second page view comes
    w.page.wait_for_timeout(settle_ms)
    assert not [r for r in w.requests if page_view_beat(r)]
    path = snippet_server.sql(
        "SELECT pv.url FROM page_views pv JOIN leases l ON l.session_id = pv.session_id"
        " JOIN tracking_numbers n ON n.id = l.number_id"
        " WHERE n.number = :n AND l.ended_ms IS NULL ORDER BY pv.id",
        {"n": leased(w, FREE)},
    )
    assert [url.split("/examples/t/")[-1] for (url,) in path] == ["dynamic.html", "contact"]
    # Back: the framework renders the original number again, and it is swapped again.
    w.page.go_back()
    text_is(w.page, "#home-number", hyphenated(leased(w, JP)))


def test_a_re_render_of_the_original_number_is_swapped_again(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_dynamic(snippet_server, visit)
    swapped = hyphenated(leased(w, JP))
    text_is(w.page, "#home-number", swapped)
    for _ in range(3):
        w.page.evaluate("rerender()")
        text_is(w.page, "#home-number", swapped)


def test_a_popup_with_link_attribute_and_split_number(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_dynamic(snippet_server, visit)
    jp = leased(w, JP)
    w.page.evaluate("popup()")
    text_is(w.page, "#popup-tel", hyphenated(jp))
    assert w.page.get_attribute("#popup-tel", "href") == "tel:" + jp
    assert w.page.get_attribute("#popup-tel", "title") == hyphenated(jp)
    assert w.page.text_content("#popup-tel span") == national_groups(jp)[0]


def test_its_own_changes_cause_no_further_mutations(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_dynamic(snippet_server, visit)
    lazy_number_swapped(w)
    w.page.evaluate("rerender()")
    text_is(w.page, "#home-number", hyphenated(leased(w, JP)))
    # Count mutations over a few frames: a snippet reacting to itself would keep going.
    count = w.page.evaluate(
        """() => new Promise(done => {
          let n = 0;
          const mo = new MutationObserver(rs => { n += rs.length; });
          mo.observe(document.documentElement, {subtree: true, childList: true,
                                                characterData: true, attributes: true});
          setTimeout(() => { mo.disconnect(); done(n); }, 500);
        })"""
    )
    assert count == 0
