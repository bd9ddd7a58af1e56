"""Actions in Chromium through a real server: a destructive click asks first (with script off
too), disabling a user asks first, and the live screen's branch column, optional sound and
desktop notification (asked for on a click only, remembered in this browser)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from backend.dashboard import i18n
from tests.dashboard.seed import Seeded, ring_now
from tests.support.dashboard_pages import PHONE, admin_page
from tests.support.server import Server

pytestmark = pytest.mark.e2e

# Chromium headless has no notification service to watch: a stand-in records what the page
# asks for and shows. Its permission survives a reload like a real one (in localStorage).
FAKE_NOTIFICATION = """
window.__notes = []; window.__asked = 0; window.__chimes = 0;
class FakeNotification {
  constructor(title, options) { window.__notes.push([title, (options || {}).body || ""]); }
}
FakeNotification.permission = localStorage.getItem("test.permission") || "default";
FakeNotification.requestPermission = () => {
  window.__asked += 1;
  FakeNotification.permission = "granted";
  localStorage.setItem("test.permission", "granted");
  return Promise.resolve("granted");
};
window.Notification = FakeNotification;
if (window.AudioContext) {
  const make = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () {
    window.__chimes += 1;
    return make.call(this);
  };
}
"""


def _sql(path: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path, timeout=10) as conn:
        return conn.execute(query, params).fetchall()


def _seen(page: Any, name: str) -> Any:
    return page.evaluate(f"() => window.{name}")


def test_retiring_a_number_asks_first_without_any_script(
    dash_server: Server, browser: Any, artifacts: Path
) -> None:
    seeded: Seeded = dash_server.seeded  # type: ignore[attr-defined]
    with admin_page(
        browser,
        dash_server,
        "/dashboard/settings/numbers",
        viewport=PHONE,
        java_script_enabled=False,
    ) as page:
        row = page.locator("#numbers tbody tr", has_text="050-9999-0001")
        summary = row.locator("details.confirm summary")
        confirm = row.locator("button.danger-solid")
        assert summary.is_visible() and not confirm.is_visible()
        summary.click()  # the first click only asks
        assert confirm.is_visible()
        assert i18n.translator("en")("confirm.retire") in row.inner_text()
        page.screenshot(path=str(artifacts / "dashboard-confirm-retire-390.png"))
        status = "SELECT status FROM tracking_numbers WHERE id = ?"
        assert _sql(seeded.path, status, (seeded.number_b,)) == [("active",)]
        summary.click()  # changed one's mind: closed again, nothing posted
        assert not confirm.is_visible()
        summary.click()
        confirm.click()
        page.wait_for_url("**/dashboard/settings/numbers")
        assert _sql(seeded.path, status, (seeded.number_b,))[0][0] in ("retired", "retiring")


def test_disabling_a_user_asks_first(dash_server: Server, browser: Any) -> None:
    seeded: Seeded = dash_server.seeded  # type: ignore[attr-defined]
    disabled = "SELECT disabled_ms IS NOT NULL FROM users WHERE email = ?"
    with admin_page(browser, dash_server, "/dashboard/settings/users") as page:
        row = page.locator("tr", has_text=seeded.member_b)
        questions: list[str] = []

        def answer(accept: bool) -> None:
            def handle(dialog: Any) -> None:
                questions.append(dialog.message)
                dialog.accept() if accept else dialog.dismiss()

            page.once("dialog", handle)

        row.locator("summary").click()
        row.locator("input[name=disabled]").check()
        answer(False)
        row.locator("button[type=submit]").click()
        assert questions and seeded.member_b in questions[0]
        assert _sql(seeded.path, disabled, (seeded.member_b,)) == [(0,)]
        answer(True)
        with page.expect_navigation():
            row.locator("button[type=submit]").click()
        assert _sql(seeded.path, disabled, (seeded.member_b,)) == [(1,)]


def test_live_screen_branch_sound_and_notification(
    dash_server: Server, browser: Any, artifacts: Path
) -> None:
    seeded: Seeded = dash_server.seeded  # type: ignore[attr-defined]
    branch = _sql(
        seeded.path,
        "SELECT tg.label FROM tracking_numbers tn JOIN pools p ON p.id = tn.pool_id"
        " JOIN targets tg ON tg.id = p.target_id WHERE tn.id = ?",
        (seeded.number_a,),
    )[0][0]
    assert branch

    with admin_page(
        browser,
        dash_server,
        "/dashboard/live",
        init_script=FAKE_NOTIFICATION,
        viewport=PHONE,
        bypass_csp=True,
    ) as page:
        page.wait_for_selector("#live-state.on")
        sound, notify = page.locator("#live-sound"), page.locator("#live-notify")
        assert page.locator("#live-options").is_visible()
        assert not sound.is_checked() and not notify.is_checked()  # off until asked for
        assert _seen(page, "__asked") == 0  # no permission prompt when the page opens
        # The branch column, on rows drawn by the server.
        header = page.locator("#live-calls thead th").all_inner_texts()
        assert "Branch" in header
        sound.check()
        assert _seen(page, "__chimes") > 0  # ticking plays the sound once, as a sample
        notify.check()
        expect(notify).to_be_checked()
        assert _seen(page, "__asked") == 1  # asked on the click
        chimes = _seen(page, "__chimes")
        call_id = ring_now(seeded, "+819011112222")
        row = page.locator(f'#live-calls tr[data-id="{call_id}"]')
        row.wait_for(timeout=15_000)
        # The branch column on rows pushed by the stream too, in the header's place.
        cells = row.locator("td").all_inner_texts()
        assert cells[header.index("Branch")] == branch
        page.wait_for_function("() => window.__notes.length === 1")
        title, body = _seen(page, "__notes")[0]
        assert title == "New call" and "050-" in body and branch in body
        assert _seen(page, "__chimes") > chimes
        page.screenshot(path=str(artifacts / "dashboard-live-390.png"), full_page=True)
        # Remembered in this browser; the permission is not asked again.
        page.reload()
        page.wait_for_selector("#live-state.on")
        assert sound.is_checked() and notify.is_checked()
        assert _seen(page, "__asked") == 0
        # Turned off: the next call makes no notification and no sound.
        notify.uncheck()
        sound.uncheck()
        quiet = ring_now(seeded, "+819011112222")
        page.locator(f'#live-calls tr[data-id="{quiet}"]').wait_for(timeout=15_000)
        assert _seen(page, "__notes") == [] and _seen(page, "__chimes") == 0
        page.reload()
        assert not sound.is_checked() and not notify.is_checked()
