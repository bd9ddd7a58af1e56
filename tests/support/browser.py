"""Debian's Chromium under Playwright, with the flags this workplace needs."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Chromium's --headless says "HeadlessChrome/…" in its user agent, and the backend gives
# headless browsers no tracking number (attribution/bots.py). The browser tests stand in
# for people, so they present the agent of an ordinary desktop Chromium, on every context.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/156.0.0.0 Safari/537.36"
)

# What the in-process test client sends by default, so that the ingest pipeline sees a
# person at a browser (a bare httpx request is dropped as a script: no Accept-Language).
# English, as the test Chromium sends, so pages that follow the language stay in English.
BROWSER_HEADERS = {"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9"}

# Playwright sets navigator.webdriver, and the snippet rightly ignores such visitors. A
# person's browser reports false; contexts that stand in for people run this init script
# (docs/snippet.md, "Testing pages with Playwright").
NOT_WEBDRIVER = (
    "Object.defineProperty(Navigator.prototype, 'webdriver',"
    " {get: () => false, configurable: true});"
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--user-agent={USER_AGENT}",
]
