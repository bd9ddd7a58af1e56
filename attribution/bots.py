"""Telling crawlers, headless browsers and monitors from people, before any lease.

A tracking number leased to a robot is a number no person can be shown for the lease's
lifetime, so robots get the page's own numbers. The verdict comes from the request alone:

- ``user-agents`` (ua-parser) says the agent is a known bot;
- the agent matches a signature of a crawler, a headless or automated browser, an uptime or
  performance monitor, a link previewer or an HTTP library (:data:`SIGNATURES`);
- the agent is missing or implausibly short;
- the request has no ``Accept-Language``: every browser sends one with ``fetch``, scripts
  and most crawlers do not.

This is the one bot policy: the ingest pipeline's ``bot`` step drops by it, and
``attribution.devices`` marks a device a bot by it (a headless Chrome is a robot: real
visitors never run one, and monitors must not hold a number a person could be shown).

A robot that copies a browser's headers exactly passes; the per-address rate limit and
lease cap (:mod:`attribution.guard`) are what bound the harm such a robot can do.

Tests that drive a real headless Chromium set a normal browser user agent on the browser
(``tests/support/browser.py``); Chromium's ``--headless`` says ``HeadlessChrome/…``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from user_agents import parse as parse_user_agent

# Substrings (lower case) of user agents that are never a person at a browser.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "headless": (
        "headlesschrome",
        "headless",
        "phantomjs",
        "slimerjs",
        "htmlunit",
        "electron/",
    ),
    "automation": (
        "selenium",
        "webdriver",
        "puppeteer",
        "playwright",
        "cypress",
        "nightmare",
        "zombie.js",
        "jsdom",
    ),
    "monitor": (
        "lighthouse",
        "pagespeed",
        "gtmetrix",
        "pingdom",
        "uptimerobot",
        "statuscake",
        "site24x7",
        "datadog",
        "newrelic",
        "checkly",
        "catchpoint",
        "dynatrace",
        "uptime-kuma",
        "better uptime",
        "freshping",
        "hetrixtools",
        "webpagetest",
        "ptst/",
        "speedcurve",
        "siteimprove",
        "screaming frog",
    ),
    "preview": (
        "facebookexternalhit",
        "facebookcatalog",
        "twitterbot",
        "slackbot",
        "slack-imgproxy",
        "discordbot",
        "telegrambot",
        "whatsapp",
        "linkedinbot",
        "skypeuripreview",
        "link preview",
        "linkpreview",
        "line-poker",
        "embedly",
        "iframely",
        "vkshare",
    ),
    "library": (
        "curl/",
        "wget/",
        "python-requests",
        "python-urllib",
        "python-httpx",
        "aiohttp",
        "httpie",
        "go-http-client",
        "java/",
        "okhttp",
        "apache-httpclient",
        "libwww-perl",
        "lwp::",
        "mechanize",
        "scrapy",
        "node-fetch",
        "undici",
        "axios/",
        "got (",
        "postmanruntime",
        "insomnia",
        "guzzlehttp",
        "ruby",
        "php/",
        "winhttp",
        "dart:io",
        "reqwest",
        "powershell",
    ),
    "crawler": (
        "googlebot",
        "google-inspectiontool",
        "googleother",
        "adsbot-google",
        "mediapartners-google",
        "feedfetcher-google",
        "google-read-aloud",
        "storebot-google",
        "bingbot",
        "bingpreview",
        "adidxbot",
        "yandex.com/bots",
        "baiduspider",
        "duckduckbot",
        "slurp",
        "y!j-",
        "ichiro",
        "applebot",
        "petalbot",
        "bytespider",
        "gptbot",
        "chatgpt-user",
        "oai-searchbot",
        "claudebot",
        "claude-web",
        "anthropic-ai",
        "perplexitybot",
        "ccbot",
        "amazonbot",
        "ahrefs",
        "semrush",
        "mj12bot",
        "dotbot",
        "seznambot",
        "exabot",
        "archive.org_bot",
        "ia_archiver",
        "heritrix",
        "nutch",
        "qwantify",
        "mojeek",
        "yeti/",
    ),
}

# Generic words crawlers put in their names. "bot" needs care: "CUBOT" is a phone maker.
_GENERIC = re.compile(r"(?<!cu)bot\b|crawl|spider|scraper|fetcher|checker|monitor", re.I)

# The shortest plausible browser user agent; real ones run 70-200 characters.
MIN_USER_AGENT = 20


@lru_cache(maxsize=4096)
def _agent_reason(user_agent: str) -> str | None:
    if not user_agent.strip():
        return "no_user_agent"
    lowered = user_agent.lower()
    for reason, needles in SIGNATURES.items():
        if any(needle in lowered for needle in needles):
            return reason
    if _GENERIC.search(user_agent):
        return "crawler"
    if len(user_agent.strip()) < MIN_USER_AGENT:
        return "short_user_agent"
    if parse_user_agent(user_agent).is_bot:
        return "crawler"
    return None


def agent_reason(user_agent: str | None) -> str | None:
    """Why this User-Agent alone is not a person at a browser (None: it may be one)."""
    return _agent_reason((user_agent or "")[:512])


def bot_reason(user_agent: str | None, accept_language: str | None) -> str | None:
    """Why this request is not a person at a browser, or None when it may be one.

    Reasons: ``no_user_agent``, ``short_user_agent``, ``headless``, ``automation``,
    ``monitor``, ``preview``, ``library``, ``crawler``, ``no_accept_language``.
    """
    # Bounded before the cache and the parser see it: agents are attacker-controlled text.
    reason = _agent_reason((user_agent or "")[:512])
    if reason is not None:
        return reason
    if not (accept_language or "").strip():
        return "no_accept_language"
    return None


def is_bot(user_agent: str | None, accept_language: str | None) -> bool:
    """Whether :func:`bot_reason` finds a reason."""
    return bot_reason(user_agent, accept_language) is not None
