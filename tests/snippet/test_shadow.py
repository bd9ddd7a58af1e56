"""Shadow DOM (issue #16): numbers in open shadow roots are swapped like the light DOM's,
in roots present at load, attached later, nested, and in content added to them later;
editors and exclusions are respected; closed roots cannot be reached and are left alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.snippet.conftest import SnippetServer, Watched
from tests.snippet.helpers import (
    FREE,
    JP,
    US,
    hyphenated,
    leased,
    national_groups,
    swapped_visit,
)

pytestmark = pytest.mark.e2e

ORIGINAL = "03-1234-5678"
# The element matching a selector inside the open shadow root of the element with an id,
# through further hosts: `inside(page, "outer", "x-inner", ".deep")`.
INSIDE = """([id, ...path]) => {
  let node = document.getElementById(id);
  for (const selector of path) node = node && node.shadowRoot.querySelector(selector);
  return node && {text: node.textContent, href: node.getAttribute('href'),
                  title: node.getAttribute('title')};
}"""


def inside(page: Any, host_id: str, *selectors: str) -> dict[str, str | None]:
    found = page.evaluate(INSIDE, [host_id, *selectors])
    assert found, f"nothing at #{host_id} {selectors}"
    return dict(found)


def text_inside_is(page: Any, expected: str, host_id: str, *selectors: str) -> None:
    """Wait until the element's text is ``expected``."""
    page.wait_for_function(
        f"([e, ...path]) => {{ const f = ({INSIDE})(path); return !!f && f.text === e; }}",
        arg=[expected, host_id, *selectors],
    )


def open_shadow(server: SnippetServer, visit: Callable[..., Watched]) -> Watched:
    return swapped_visit(visit, server, "shadow.html")


def test_a_custom_elements_open_shadow_root_present_at_load_is_swapped(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_shadow(snippet_server, visit)
    jp = leased(w, JP)
    text_inside_is(w.page, "お電話 " + hyphenated(jp), "present", ".text")
    link = inside(w.page, "present", ".tel")
    assert link["href"] == "tel:" + jp
    assert link["title"] == hyphenated(jp)
    # A host inside an excluded element: its shadow root is excluded too.
    assert inside(w.page, "skipped", ".text")["text"] == "お電話 " + ORIGINAL
    assert inside(w.page, "skipped", ".tel")["href"] == "tel:0312345678"
    assert w.script_errors() == []


def test_nested_shadow_roots_are_swapped(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_shadow(snippet_server, visit)
    a, b, c = national_groups(leased(w, US))
    text_inside_is(w.page, f"({a}) {b}-{c}", "outer", ".mid")
    text_inside_is(w.page, hyphenated(leased(w, FREE)), "outer", "x-inner", ".deep")


def test_an_editor_inside_a_shadow_root_is_not_changed(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_shadow(snippet_server, visit)
    text_inside_is(w.page, hyphenated(leased(w, JP)), "editor", ".beside")
    assert inside(w.page, "editor", ".edited")["text"] == ORIGINAL


def test_a_closed_shadow_root_is_left_alone(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_shadow(snippet_server, visit)
    text_inside_is(w.page, "お電話 " + hyphenated(leased(w, JP)), "present", ".text")
    # The page kept its closed root: the snippet could not reach it, and did not change it.
    assert w.page.evaluate("closedRoots[0].querySelector('.text').textContent") == ORIGINAL
    # ... nor through attachShadow, which it watches for roots attached later.
    w.page.evaluate(
        """() => {
          const host = document.createElement('div');
          host.id = 'closed-later';
          closedRoots.push(host.attachShadow({mode: 'closed'}));
          closedRoots[1].innerHTML = '<p>03-1234-5678</p>';
          document.body.append(host);
        }"""
    )
    w.page.wait_for_timeout(300)
    assert w.page.evaluate("closedRoots[1].textContent") == ORIGINAL
    assert w.script_errors() == []


def test_shadow_roots_attached_and_content_added_after_load_are_swapped(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = open_shadow(snippet_server, visit)
    jp = hyphenated(leased(w, JP))
    text_inside_is(w.page, "お電話 " + jp, "present", ".text")
    # A custom element defined after load: the element already in the page is upgraded,
    # and attaches its shadow root then (no change in the document the observer sees).
    w.page.evaluate("defineLate()")
    text_inside_is(w.page, jp, "late", ".text")
    # New content in a root that was scanned at load.
    w.page.evaluate("addIntoPresent()")
    text_inside_is(w.page, hyphenated(leased(w, FREE)), "present", ".added")
    # A host given its root before it was put in the page.
    w.page.evaluate("appendHost()")
    a, b, c = national_groups(leased(w, US))
    text_inside_is(w.page, f"({a}) {b}-{c}", "appended", ".text")
    # Content changed in the late root after its first scan: watched too.
    w.page.evaluate(
        "document.getElementById('late').shadowRoot.querySelector('.text')"
        ".firstChild.nodeValue = '03-1234-5678'"
    )
    text_inside_is(w.page, jp, "late", ".text")
    assert w.script_errors() == []


def test_hide_hides_numbers_in_shadow_roots_until_the_answer(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.route("**/v1/session", lambda route: None)  # never answered
    w.page.goto(snippet_server.page_url("shadow-hide.html"))
    w.page.wait_for_function("hiddenInShadow.length > 0")
    assert w.page.evaluate("hiddenInShadow") == ["hidden"]
    # The one-second fallback shows it again and takes away what hiding added.
    w.page.wait_for_function(
        "!document.getElementById('present').shadowRoot.querySelector('[data-callpath-hide]')"
    )
    root = "document.getElementById('present').shadowRoot"
    assert w.page.evaluate(f"{root}.querySelectorAll('style').length") == 0
    assert w.page.evaluate(f"getComputedStyle({root}.querySelector('p')).visibility") == "visible"
    assert inside(w.page, "present", ".text")["text"] == ORIGINAL
    assert w.script_errors() == []
