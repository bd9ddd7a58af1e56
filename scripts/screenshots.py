"""Screenshots of every dashboard page, at a desktop's and a phone's size, in Japanese and
English: ``make screenshots`` (or ``python scripts/screenshots.py [FOLDER]``).

A real server over a throw-away database (the demo, the test advertisers and 30 days of
history), Debian's Chromium, the page list generated from the dashboard's route table
(tests/support/dashboard_pages.py). Files are named LANG-WIDTHxHEIGHT-PAGE.png; the folder
(``screenshots/`` by default) is not committed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.dashboard.seed import PASSWORD  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.dashboard_pages import (  # noqa: E402
    DESKTOP,
    PHONE,
    dashboard_pages,
    sign_in_context,
    slug,
    start_dashboard_server,
)

SIZES = (DESKTOP, PHONE)
LANGUAGES = {"ja": "ja-JP", "en": "en-US"}


def main(out: Path) -> int:
    """Write every page at every size in both languages into ``out``; print a line per page."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = start_dashboard_server(Path(tmp))
        try:
            seeded = server.seeded  # type: ignore[attr-defined]
            pages = dashboard_pages(seeded)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for lang, locale in LANGUAGES.items():
                    for size in SIZES:
                        width, height = size["width"], size["height"]
                        context = sign_in_context(
                            browser, server, seeded.admin, PASSWORD, locale=locale, viewport=size
                        )
                        page = context.new_page()
                        for path in pages:
                            page.goto(server.url + path)
                            name = f"{lang}-{width}x{height}-{slug(path)}.png"
                            page.screenshot(path=str(out / name), full_page=True)
                            written += 1
                        context.close()
                browser.close()
        finally:
            server.stop()
    print(f"{written} screenshots of {len(pages)} pages in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots"))
