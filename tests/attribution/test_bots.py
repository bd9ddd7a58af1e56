"""The bot filter: crawlers, headless browsers, monitors and scripts get no lease."""

from __future__ import annotations

import pytest

from attribution.bots import bot_reason, is_bot
from tests.support.browser import USER_AGENT

EN = "en-US,en;q=0.9"

PEOPLE = [
    # Desktop Chrome, Firefox, Safari, Edge; mobile Safari, Chrome, Samsung, in-app browsers.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    # LINE's and Instagram's in-app browsers are people reading a shared link.
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Mobile/15E148 Safari Line/14.9.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Mobile/15E148 Instagram 340.0.0.22.109",
    # A CUBOT phone: "bot" in the model name is not a robot.
    "Mozilla/5.0 (Linux; Android 12; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Mobile Safari/537.36",
    USER_AGENT,
]

ROBOTS = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " HeadlessChrome/156.0.0.0 Safari/537.36": "headless",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "crawler",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1;"
    " +http://www.google.com/bot.html)": "crawler",
    "AdsBot-Google (+http://www.google.com/adsbot.html)": "crawler",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)": "crawler",
    "Y!J-BRW/1.0 (https://www.yahoo-help.jp/app/answers/detail/p/595/a_id/42716)": "crawler",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)": "crawler",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2;"
    " +https://openai.com/gptbot)": "crawler",
    "Mozilla/5.0 (compatible; SomeNewCrawler/0.1; +https://example.org/crawler)": "crawler",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)": "monitor",
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse": "monitor",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)": "preview",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)": "preview",
    "curl/8.5.0": "library",
    "python-requests/2.32.3": "library",
    "python-httpx/0.28.1": "library",
    "Go-http-client/2.0": "library",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " PhantomJS/2.1.1 Safari/538.1": "headless",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Selenium": "automation",
    "": "no_user_agent",
    "Mozilla/5.0": "short_user_agent",
}


@pytest.mark.parametrize("agent", PEOPLE)
def test_people_at_browsers_pass(agent: str) -> None:
    assert bot_reason(agent, EN) is None
    assert bot_reason(agent, "ja,en-US;q=0.9") is None


@pytest.mark.parametrize(("agent", "reason"), sorted(ROBOTS.items()))
def test_robots_are_named(agent: str, reason: str) -> None:
    assert bot_reason(agent, EN) == reason
    assert is_bot(agent, EN)


def test_a_browser_agent_without_accept_language_is_a_script() -> None:
    assert bot_reason(PEOPLE[0], None) == "no_accept_language"
    assert bot_reason(PEOPLE[0], "  ") == "no_accept_language"


def test_huge_agents_are_bounded_and_still_judged() -> None:
    huge = PEOPLE[0] + " x" * 100_000
    assert bot_reason(huge, EN) is None
    assert bot_reason("Googlebot " + "x" * 100_000, EN) == "crawler"
