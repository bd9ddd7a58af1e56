"""The example pages under /examples/ swap what they should and keep the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.snippet.conftest import SnippetServer, Watched
from tests.snippet.helpers import FREE, JP, US, national_groups, wide

pytestmark = pytest.mark.e2e


def tel(w: Watched, selector: str) -> str:
    return str(w.page.get_attribute(selector, "href")).removeprefix("tel:")


def test_japanese_landing_page(
    snippet_server: SnippetServer, visit: Callable[..., Watched], artifacts: Path
) -> None:
    w = visit()
    w.page.goto(snippet_server.page_url("/examples/ja.html"))
    w.page.wait_for_function("document.getElementById('header-tel').textContent !== '03-1234-5678'")
    jp = tel(w, "#header-tel")
    free = tel(w, "#free-tel")
    assert jp in snippet_server.tracking[JP] and free in snippet_server.tracking[FREE]
    a, b, c = national_groups(jp)
    fa, fb, fc = national_groups(free)
    page = w.page
    assert page.text_content("#header-tel") == f"{a}-{b}-{c}"
    assert page.get_attribute("#header-tel", "aria-label") == f"電話をかける {a}-{b}-{c}"
    assert tel(w, "#call-button") == jp and tel(w, "#footer-tel") == jp
    assert page.text_content("#body-tel") == f"{a}({b}){c}"
    assert page.text_content("#wide-tel") == wide(f"{a}－{b}－{c}")
    assert page.text_content("#free-tel") == wide(f"{fa}−{fb}−{fc}")
    assert page.text_content("#intl-tel") == f"+81 {a[1:]}-{b}-{c}"
    assert page.text_content("#footer-tel") == f"{a}-{b}-{c}"
    assert page.text_content("#footer-tel .area") == a
    # The title is never swapped: it is what click paths record, the same for every visitor.
    assert page.title() == "デモ歯科クリニック｜ご予約 03-1234-5678"
    assert page.text_content("#fax") == "03-1234-5679"
    assert page.text_content("#footer-fax") == "03-1234-5679"
    assert "診察券番号 0312345678901" in str(page.text_content(".note"))
    assert w.script_errors() == []
    page.screenshot(path=str(artifacts / "snippet-ja.png"), full_page=True)


def test_american_page(snippet_server: SnippetServer, visit: Callable[..., Watched]) -> None:
    w = visit()
    w.page.goto(snippet_server.page_url("/examples/us.html"))
    w.page.wait_for_function(
        "document.getElementById('header-tel').textContent !== '(212) 555-0100'"
    )
    us = tel(w, "#header-tel")
    assert us in snippet_server.tracking[US]
    a, b, c = national_groups(us)
    page = w.page
    assert page.text_content("#header-tel") == f"({a}) {b}-{c}"
    assert tel(w, "#call-button") == us
    assert page.get_attribute("#call-button", "title") == f"Call {a}-{b}-{c}"
    assert page.text_content("#dots") == f"{a}.{b}.{c}"
    assert page.text_content("#hyphens") == f"{a}-{b}-{c}"
    assert page.text_content("#intl") == f"+1 {a}-{b}-{c}"
    assert page.text_content("#fax") == "(212) 555-0199"
    assert page.text_content("#billing") == "(212) 555-0142"
    assert "Invoice #2125550100-17" in str(page.text_content(".note"))
    assert page.text_content("#jp") != "+81 3-1234-5678"
    assert w.script_errors() == []


def test_single_page_app(snippet_server: SnippetServer, visit: Callable[..., Watched]) -> None:
    w = visit()
    w.page.goto(snippet_server.page_url("/examples/spa.html"))
    w.page.wait_for_function("document.getElementById('home-tel').textContent !== '03-1234-5678'")
    jp = tel(w, "#home-tel")
    hyphenated = "-".join(national_groups(jp))
    w.page.click("[data-route=contact]")
    w.page.wait_for_function(
        "document.getElementById('contact-free').textContent !== '0120-123-456'"
    )
    assert w.page.text_content("#fax") == "03-1234-5679"
    w.page.click("#open-popup")
    w.page.wait_for_function(
        "h => document.getElementById('popup-tel').textContent === h", arg=hyphenated
    )
    assert tel(w, "#popup-tel") == jp
    w.page.wait_for_function(
        "h => (document.getElementById('footer-tel') || {}).textContent === h", arg=hyphenated
    )
    w.page.go_back()
    w.page.wait_for_function(
        "h => document.getElementById('home-tel').textContent === h", arg=hyphenated
    )
    # Numbers are leased for what the pages show: the home page's number, then the contact
    # page's free-dial number when it appears; nothing more.
    assert len(w.calls("/v1/session")) == 2
    assert w.script_errors() == []
