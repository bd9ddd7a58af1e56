"""Device, browser and OS from the User-Agent, and whether it is a bot.

``user-agents`` (ua-parser underneath) is slow enough to matter at ingest rates, and the
same few hundred strings make up most traffic, so each distinct string is parsed once and
kept in an LRU cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from user_agents import parse

MAX_UA = 512

# Crawlers, link previewers and monitors that ua-parser does not mark as spiders.
# Headless Chrome is deliberately not here: the snippet itself stays away from
# navigator.webdriver, and real monitoring of pages uses it.
_BOTS = re.compile(
    r"(?i)(?<!cu)(bot|crawler|spider|slurp)\b|crawl|facebookexternalhit|embedly|"
    r"link ?preview|whatsapp/|skypeuripreview|google-inspectiontool|lighthouse|pingdom|"
    r"uptimerobot|gtmetrix|semrush|ahrefs|bytespider|petalbot|yeti/|headless ?shell|"
    r"phantomjs|^wget/|^curl/|^go-http-client/|^java/|^okhttp/|^apache-httpclient/"
)


@dataclass(frozen=True)
class Device:
    """What a User-Agent says about the visitor's device."""

    device: str  # mobile, tablet, desktop, bot, other
    browser: str
    os: str
    is_bot: bool


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> Device:
    """Parse a User-Agent string (cached per distinct string). An empty one is a bot."""
    ua = user_agent.strip()[:MAX_UA]
    if not ua:
        return Device("bot", "", "", True)
    parsed = parse(ua)
    bot = bool(parsed.is_bot or _BOTS.search(ua))
    if bot:
        kind = "bot"
    elif parsed.is_tablet:
        kind = "tablet"
    elif parsed.is_mobile:
        kind = "mobile"
    elif parsed.is_pc:
        kind = "desktop"
    else:
        kind = "other"
    browser = parsed.browser.family if parsed.browser.family != "Other" else ""
    os_name = parsed.os.family if parsed.os.family != "Other" else ""
    return Device(kind, browser[:64], os_name[:64], bot)
