"""Every format of a target number is swapped in its own style; nothing else changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.snippet.conftest import SnippetServer, Watched, seed_site
from tests.snippet.helpers import FREE, JP, US, national_groups, wide

pytestmark = pytest.mark.e2e

# id -> (original text, expected text as a template over the tracking number's national
# groups a, b, c; A is the first group without the trunk 0 of Japanese numbers).
JP_FORMATS = {
    "jp-hyphen": ("03-1234-5678", "{a}-{b}-{c}"),
    "jp-paren-mid": ("03(1234)5678", "{a}({b}){c}"),
    "jp-paren-area": ("(03) 1234-5678", "({a}) {b}-{c}"),
    "jp-plain": ("0312345678", "{a}{b}{c}"),
    "jp-intl-space": ("+81 3-1234-5678", "+81 {A}-{b}-{c}"),
    "jp-intl-hyphen": ("+81-3-1234-5678", "+81-{A}-{b}-{c}"),
    "jp-intl-trunk": ("+81 (0)3 1234 5678", "+81 (0){A} {b} {c}"),
    "jp-sentence": (
        "お電話は TEL:03-1234-5678 まで（平日 9:00〜18:00）",
        "お電話は TEL:{a}-{b}-{c} まで（平日 9:00〜18:00）",
    ),
}
FREE_FORMATS = {
    "free-hyphen": ("0120-123-456", "{a}-{b}-{c}"),
    "free-space": ("0120 123 456", "{a} {b} {c}"),
}
US_FORMATS = {
    "us-paren": ("(212) 555-0100", "({a}) {b}-{c}"),
    "us-dots": ("212.555.0100", "{a}.{b}.{c}"),
    "us-hyphen": ("212-555-0100", "{a}-{b}-{c}"),
    "us-intl": ("+1 212-555-0100", "+1 {a}-{b}-{c}"),
    "us-one": ("1-212-555-0100", "1-{a}-{b}-{c}"),
}
UNCHANGED = {
    "fax": "FAX 03-1234-5679",
    "other-phone": "03-9876-5432",
    "other-free": "0120-123-457",
    "date": "2024-03-12 / 2024年3月12日 / 2024.03.12",
    "postal": "〒100-0005 東京都千代田区",
    "order-long": "注文番号 0312345678901",
    "order-suffix": "Order 0312345678-02",
    "order-prefix": "Ref 7-212-555-0100",
    "us-zip": "New York, NY 10001",
    "price": "¥3,120,000 / $2,125.55",
}


def fill(template: str, e164: str) -> str:
    a, b, c = national_groups(e164)
    return template.format(a=a, b=b, c=c, A=a.lstrip("0"))


@pytest.fixture(scope="module")
def swapped(snippet_server: SnippetServer, browser: Any) -> dict[str, Any]:
    """Load the formats page once and collect what the tests look at."""
    from tests.support.browser import NOT_WEBDRIVER

    ctx = browser.new_context()
    ctx.add_init_script(NOT_WEBDRIVER)
    page = ctx.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text)
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(snippet_server.page_url("formats.html"))
    page.wait_for_function("document.getElementById('jp-hyphen').textContent !== '03-1234-5678'")
    data = page.evaluate(
        """() => {
          const out = {texts: {}, attrs: {}};
          for (const el of document.querySelectorAll('[id]')) {
            out.texts[el.id] = el.tagName === 'INPUT' ? el.value : el.textContent;
            out.attrs[el.id] = {href: el.getAttribute('href'), title: el.getAttribute('title'),
                                label: el.getAttribute('aria-label')};
          }
          out.title = document.title;
          out.tpl = document.getElementById('tpl').content.textContent;
          out.same = {
            text: document.getElementById('jp-hyphen').firstChild === before.text,
            span: document.querySelector('#split .area') === before.span,
            link: document.getElementById('tel-national') === before.link,
          };
          out.spanText = document.querySelector('#split .area').textContent;
          out.deep = [...document.querySelectorAll('#split-deep b, #split-deep i')]
            .map(e => e.textContent);
          document.getElementById('btn').click();
          out.clicks = window.clicks;
          return out;
        }"""
    )
    data["tel"] = {
        target: data["attrs"][link]["href"].removeprefix("tel:")
        for target, link in ((JP, "tel-e164"), (FREE, "tel-free"), (US, "tel-us"))
    }
    data["errors"] = errors
    ctx.close()
    return data


def test_tel_links_become_the_tracking_number_in_e164(
    swapped: dict[str, Any], snippet_server: SnippetServer
) -> None:
    for target, number in swapped["tel"].items():
        assert number in snippet_server.tracking[target], (target, number)
    assert swapped["attrs"]["tel-national"]["href"] == "tel:" + swapped["tel"][JP]
    assert swapped["attrs"]["split"]["href"] == "tel:" + swapped["tel"][JP]
    assert swapped["attrs"]["tel-fax"]["href"] == "tel:+81312345679"


@pytest.mark.parametrize("element", sorted(JP_FORMATS))
def test_japanese_formats_keep_their_style(swapped: dict[str, Any], element: str) -> None:
    _, template = JP_FORMATS[element]
    assert swapped["texts"][element] == fill(template, swapped["tel"][JP])


@pytest.mark.parametrize("element", sorted(FREE_FORMATS))
def test_toll_free_formats_keep_their_style(swapped: dict[str, Any], element: str) -> None:
    _, template = FREE_FORMATS[element]
    assert swapped["texts"][element] == fill(template, swapped["tel"][FREE])


@pytest.mark.parametrize("element", sorted(US_FORMATS))
def test_american_formats_keep_their_style(swapped: dict[str, Any], element: str) -> None:
    _, template = US_FORMATS[element]
    assert swapped["texts"][element] == fill(template, swapped["tel"][US])


def test_full_width_numbers_stay_full_width(swapped: dict[str, Any]) -> None:
    assert swapped["texts"]["jp-wide"] == wide(fill("{a}－{b}－{c}", swapped["tel"][JP]))
    # U+2212 MINUS SIGN as the separator, as Japanese pages often have it.
    assert swapped["texts"]["free-wide"] == wide(fill("{a}−{b}−{c}", swapped["tel"][FREE]))


def test_two_numbers_in_one_text_node(swapped: dict[str, Any]) -> None:
    jp = fill("{a}-{b}-{c}", swapped["tel"][JP])
    free = fill("{a}-{b}-{c}", swapped["tel"][FREE])
    assert swapped["texts"]["two-in-one"] == f"本院 {jp} / 無料 {free}"


@pytest.mark.parametrize("element", sorted(UNCHANGED))
def test_other_numbers_dates_and_codes_never_change(swapped: dict[str, Any], element: str) -> None:
    assert swapped["texts"][element] == UNCHANGED[element]


def test_code_form_fields_and_editors_are_left_alone(swapped: dict[str, Any]) -> None:
    texts = swapped["texts"]
    assert 'var shown = "03-1234-5678";' in texts["code"]
    for element in ("area", "field", "choice", "editor", "nos"):
        assert texts[element] == "03-1234-5678", element
    assert swapped["tpl"] == "03-1234-5678"


def test_title_and_attributes(swapped: dict[str, Any]) -> None:
    jp = fill("{a}-{b}-{c}", swapped["tel"][JP])
    # The document title is never swapped (click paths record it, the same for everyone).
    assert swapped["title"] == "お問い合わせ 03-1234-5678 | formats"
    assert swapped["attrs"]["tel-e164"]["title"] == f"{jp} に電話"
    assert swapped["attrs"]["tel-e164"]["label"] == f"電話 {jp}"
    assert swapped["texts"]["btn"] == jp


def test_number_split_across_inline_elements_in_a_link(swapped: dict[str, Any]) -> None:
    a, b, c = national_groups(swapped["tel"][JP])
    assert swapped["texts"]["split"] == f"{a}-{b}-{c}"
    assert swapped["spanText"] == a  # the area code stays in its own element
    ua, ub, uc = national_groups(swapped["tel"][US])
    assert swapped["texts"]["split-deep"] == f"({ua}) {ub}-{uc}"
    assert swapped["deep"] == [f"({ua})", ub]


def test_markup_and_listeners_survive(swapped: dict[str, Any]) -> None:
    assert swapped["same"] == {"text": True, "span": True, "link": True}
    assert swapped["clicks"] == 1
    assert swapped["errors"] == []


# A site with one number per visitor from a Japanese target's pool that also shows an
# American target: the swap's target is of another country than its number.
ABROAD_KEY = "abroad"
ABROAD = [
    ("+81340000001", [f"+81509600{k:04d}" for k in range(1, 7)]),
    ("+12125550177", ["+12125550178"]),
]


def test_a_target_of_another_country_shows_the_numbers_international_form(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    url = f"sqlite:///{snippet_server.db_path}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, seed_site(url, ABROAD_KEY, ABROAD, per_visitor=ABROAD[0][0])
        ).result()
    w = visit()
    with w.page.expect_response("**/v1/session") as answer:
        w.page.goto(snippet_server.page_url("abroad.html"))
    w.page.wait_for_function("document.getElementById('us').textContent.includes('+81')")
    swaps = {s["target"]: s for s in answer.value.json()["swaps"]}
    number = swaps["+12125550177"]
    assert number["number"] == swaps["+81340000001"]["number"]  # one number per visitor
    international = number["international"]  # +81 50-9600-000x
    assert w.page.text_content("#us") == "US office: " + international
    assert w.page.text_content("#jp") == fill("{a}-{b}-{c}", number["number"])
    assert w.page.text_content("#us-wide") == "＋" + wide(international[1:])
    assert w.page.get_attribute("#us-tel", "href") == "tel:" + number["number"]
    assert w.script_errors() == []
