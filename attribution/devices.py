"""Device, browser and OS from the User-Agent, and whether it is a bot (by the one bot
policy, :func:`attribution.bots.agent_reason`: headless Chrome is a bot here too).

``user-agents`` (ua-parser underneath) is slow enough to matter at ingest rates, and the
same few hundred strings make up most traffic, so each distinct string is parsed once and
kept in an LRU cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from user_agents import parse

from attribution.bots import agent_reason

MAX_UA = 512


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
    # One bot policy (attribution.bots): what the ingest pipeline drops is what is a bot here.
    bot = agent_reason(ua) is not None
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
