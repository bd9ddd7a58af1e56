"""The ingest pipeline is one list: production runs exactly :data:`DEFAULT_STEPS`, each
step says what it drops with, each is timed, and one bot policy decides who is a robot."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from attribution.bots import agent_reason, bot_reason
from attribution.devices import parse_user_agent
from attribution.ingest import DEFAULT_STEPS, DROP_REASONS, Pipeline
from tests.support.browser import BROWSER_HEADERS, USER_AGENT

HEADLESS = USER_AGENT.replace("Chrome/", "HeadlessChrome/")


def test_the_default_steps_are_the_documented_list() -> None:
    names = [spec.name for spec in DEFAULT_STEPS]
    assert names == [
        "origin",
        "bot",
        "spam_referrer",
        "rate_limit",
        "classify",
        "enrich",
        "lease_cap",
        "record",
        "lease",
    ]
    assert len(set(names)) == len(names)
    for spec in DEFAULT_STEPS:
        assert spec.does and spec.run.__doc__, spec.name
        assert spec.drops is None or spec.drops in DROP_REASONS, spec.name
    # Everything that can drop a visit is a step of the list (unknown_site is the site
    # look-up before the steps).
    assert {s.drops for s in DEFAULT_STEPS if s.drops} == set(DROP_REASONS) - {"unknown_site"}


async def test_production_runs_the_list_as_declared_and_times_each_step(
    client: httpx.AsyncClient, app: Any, demo: Any
) -> None:
    r = await client.post(
        "/v1/session",
        json={"site": "demo", "url": "http://127.0.0.1/examples/"},
        headers=BROWSER_HEADERS,
    )
    assert r.status_code == 200 and r.json()["swaps"], r.text
    pipeline: Pipeline = app.state.ingest_pipeline
    # The flood guard adds no steps of its own: the app runs the declared list.
    assert [name for name, _ in pipeline.steps] == [spec.name for spec in DEFAULT_STEPS]
    assert pipeline.guard is not None and pipeline.on_step is not None
    text, _ = await app.state.metrics.render("text/plain")
    for spec in DEFAULT_STEPS:
        line = f'callpath_ingest_step_seconds_count{{step="{spec.name}"}} 1.0'
        assert line.encode() in text, spec.name


@pytest.mark.parametrize(
    "agent",
    [
        HEADLESS,
        "Mozilla/5.0 (compatible; Yeti/1.1; +http://naver.me/spd)",
        "Mozilla/5.0 (Macintosh) LinkPreview/1.0",
        "curl/8.5.0",
    ],
)
def test_one_bot_policy_for_dropping_and_for_the_device(agent: str) -> None:
    """devices.py used to let headless Chrome through while bots.py dropped it: now both
    read the same policy, and headless Chrome is a robot (no number, device 'bot')."""
    assert agent_reason(agent) is not None
    assert bot_reason(agent, "en") is not None
    device = parse_user_agent(agent)
    assert device.is_bot and device.device == "bot"
    assert not parse_user_agent(USER_AGENT).is_bot


async def test_headless_chrome_gets_no_number(
    client: httpx.AsyncClient, app: Any, demo: Any
) -> None:
    headers = {**BROWSER_HEADERS, "User-Agent": HEADLESS}
    r = await client.post(
        "/v1/session", json={"site": "demo", "url": "http://127.0.0.1/examples/"}, headers=headers
    )
    assert r.status_code == 200 and r.json()["swaps"] == []
