"""Every dashboard page in Chromium, through a real server: at a phone's width (390 px) the page
itself never scrolls sideways, and axe-core finds no serious or critical violation, in
English and Japanese, at 390 px and at a desktop's 1440 px. The page list comes from the
dashboard's route table (tests/support/dashboard_pages.py), so a new page is checked too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.dashboard.routes import routes as dashboard_routes
from tests.dashboard.seed import PASSWORD, Seeded
from tests.support.dashboard_pages import (
    DESKTOP,
    IDS,
    NOT_PAGES,
    PHONE,
    admin_page,
    dashboard_pages,
    page_routes,
    sign_in_context,
    slug,
)
from tests.support.server import ROOT, Server

pytestmark = pytest.mark.e2e

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
LOCALES = {"en": "en-US", "ja": "ja-JP"}

# axe.run in the page; only what a test fails on comes back (rule, impact, where, why).
RUN_AXE = """() => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
  .filter(v => v.impact === "serious" || v.impact === "critical")
  .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3)
    .map(n => n.target.join(" ") + ": " + n.failureSummary)})))"""


def _wide(page: Any) -> int:
    return int(page.evaluate("() => document.scrollingElement.scrollWidth"))


def _axe(page: Any) -> list[dict[str, Any]]:
    # The dashboard's CSP allows no inline script: these contexts bypass it for axe only.
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return found


def _check_pages(
    browser: Any, server: Server, lang: str, viewport: dict[str, int], artifacts: Path
) -> dict[str, Any]:
    seeded: Seeded = server.seeded  # type: ignore[attr-defined]
    context = sign_in_context(
        browser,
        server,
        seeded.admin,
        PASSWORD,
        locale=LOCALES[lang],
        viewport=viewport,
        bypass_csp=True,
    )
    problems: dict[str, Any] = {}
    try:
        page = context.new_page()
        for path in dashboard_pages(seeded):
            response = page.goto(server.url + path)
            assert response is not None and response.status == 200, (path, response)
            assert page.get_attribute("html", "lang") == lang, path
            width = _wide(page)
            if width > viewport["width"]:
                problems[f"{path} is {width} px wide"] = width
                page.screenshot(path=str(artifacts / f"too-wide-{lang}-{slug(path)}.png"))
            for violation in _axe(page):
                problems[f"{path}: {violation['id']}"] = violation
    finally:
        context.close()
    return problems


def test_the_page_list_comes_from_the_route_table() -> None:
    listed = page_routes()
    assert "/dashboard" in listed and "/dashboard/settings/numbers" in listed
    assert "/dashboard/calls/{id:int}" in listed  # pages with an id are listed too
    paths = {getattr(r, "path", "") for r in dashboard_routes}
    # What is left out is still in the route table (a renamed route cannot hide a page).
    assert set(NOT_PAGES) <= paths
    assert set(IDS) <= set(listed)
    assert not set(NOT_PAGES) & set(listed)
    pages = dashboard_pages(Seeded(calls_a=[7], site_a=3, site_b=4))
    assert "/dashboard/calls/7" in pages and "/dashboard/settings/sites/4/rules" in pages
    assert not [p for p in pages if "{" in p]


def test_a_page_with_an_id_and_no_seeded_object_is_not_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(IDS, "/dashboard/calls/{id:int}")
    with pytest.raises(KeyError, match="calls"):
        dashboard_pages(Seeded(calls_a=[7], site_a=3, site_b=4))


@pytest.mark.parametrize(("lang", "width"), [("en", 390), ("ja", 390), ("ja", 360)])
def test_every_page_fits_a_phone_and_passes_axe(
    dash_server: Server, browser: Any, lang: str, width: int, artifacts: Path
) -> None:
    assert AXE.exists(), "npm install (make installs node_modules) brings axe-core"
    viewport = {**PHONE, "width": width}
    assert _check_pages(browser, dash_server, lang, viewport, artifacts) == {}


def test_every_page_passes_axe_on_a_desktop(
    dash_server: Server, browser: Any, artifacts: Path
) -> None:
    assert _check_pages(browser, dash_server, "en", DESKTOP, artifacts) == {}


def test_the_sign_in_page_passes_axe_and_fits(dash_server: Server, browser: Any) -> None:
    context = browser.new_context(viewport=PHONE, bypass_csp=True, locale="ja-JP")
    try:
        page = context.new_page()
        page.goto(dash_server.url + "/login")
        assert _wide(page) <= PHONE["width"]
        assert _axe(page) == []
    finally:
        context.close()


def test_the_menu_button_opens_the_menu_without_any_script(
    dash_server: Server, browser: Any, artifacts: Path
) -> None:
    with admin_page(
        browser, dash_server, "/dashboard/calls", viewport=PHONE, java_script_enabled=False
    ) as page:
        nav = page.locator("header nav")
        button = page.locator("label.menu-button")
        assert button.is_visible() and not nav.is_visible()
        # The title is not pushed down by the menu while it is closed.
        header = page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 70
        button.click()
        assert nav.is_visible()
        page.screenshot(path=str(artifacts / "dashboard-menu-390.png"))
        links = nav.locator("a")
        # One link a line, each on one line (not a character a line as before).
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box is not None and box["height"] < 50 and box["width"] > 150
        nav.locator("a[href='/dashboard/pools']").click()
        page.wait_for_url("**/dashboard/pools")
        assert not page.locator("header nav").is_visible()  # closed again on the next page
        button.click()
        button.click()
        assert not nav.is_visible()
        # On a desktop there is no menu button: the navigation is always shown.
        page.set_viewport_size(DESKTOP)
        assert nav.is_visible() and not button.is_visible()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_call_analysis_page_and_its_refused_forms_fit_a_phone_and_pass_axe(
    dash_server: Server, browser: Any, lang: str, artifacts: Path
) -> None:
    """The page as a person uses it (issue #22): a rule's edit form opened, a rule refused
    and a retention period refused, each reason shown by its field in the user's language."""
    seeded: Seeded = dash_server.seeded  # type: ignore[attr-defined]
    path = f"/dashboard/settings/analysis/{seeded.adv_a}"
    with admin_page(
        browser, dash_server, path, viewport=PHONE, bypass_csp=True, locale=LOCALES[lang]
    ) as page:
        page.click("#transcript-rules details > summary")
        assert page.is_visible("#transcript-rules details form input[name=phrase]")
        assert _wide(page) <= PHONE["width"] and _axe(page) == []
        page.fill("#new-phrase", "予約")
        page.click("#rule-form button[type=submit]")  # neither an outcome nor a tag
        error = page.locator("#rule-form .field-error")
        assert error.count() == 1
        wanted = {"en": "Choose an outcome", "ja": "結果かタグ"}[lang]
        assert wanted in error.inner_text()
        assert page.input_value("#new-phrase") == "予約"
        assert _wide(page) <= PHONE["width"], _wide(page)
        assert _axe(page) == []
        page.fill("#retention-days", "4000")
        # The browser's own check would stop the form: the server's answer is the one seen.
        page.eval_on_selector("#retention-form", "f => f.noValidate = true")
        page.click("#retention-form button[type=submit]")
        assert page.locator("#retention-form .field-error").count() == 1
        assert _wide(page) <= PHONE["width"] and _axe(page) == []
        page.screenshot(path=str(artifacts / f"analysis-refused-{lang}-390.png"), full_page=True)


def test_a_call_pages_change_history_fits_a_phone(
    dash_server: Server, browser: Any, artifacts: Path
) -> None:
    """A call worked on has its history of changes (who, field, before, after): at 390 px
    in English the table made the page 444 px wide."""
    seeded: Seeded = dash_server.seeded  # type: ignore[attr-defined]
    path = f"/dashboard/calls/{seeded.calls_a[-1]}"
    with admin_page(
        browser, dash_server, path, viewport=PHONE, bypass_csp=True, locale=LOCALES["en"]
    ) as page:
        page.fill("#work-reason", "Asked for a booking next Tuesday morning")
        page.fill("#work-tags", "booking, returning-patient")
        page.fill("#work-note", "Wants the 10:30 slot; call back after lunch")
        page.click("#work-form button[type=submit]")
        page.wait_for_selector("#work-audit")
        assert page.locator("#work-audit tbody tr").count() >= 2
        assert _wide(page) <= PHONE["width"], _wide(page)
        page.screenshot(path=str(artifacts / "call-history-en-390.png"), full_page=True)
