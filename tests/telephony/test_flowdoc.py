"""The flow document and the schedule step, without a call: the documented examples
parse, holidays and breaks are read in the site's time zone."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from backend.telephony import flowdoc, schedule

DOC = Path(__file__).resolve().parents[2] / "docs" / "telephony.md"


def _blocks() -> list[object]:
    text = DOC.read_text()
    section = text[text.index("## Call flows") : text.index("## Visit codes")]
    return [orjson.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)]


def test_every_documented_flow_and_step_checks() -> None:
    blocks = _blocks()
    flows = [b for b in blocks if isinstance(b, dict) and "steps" in b]
    steps = [b for b in blocks if isinstance(b, dict) and "type" in b]
    assert len(flows) == 3 and len(steps) == 7
    for flow in flows:
        flowdoc.parse(flow)
    for step in steps:
        # A step on its own, its branches pointing at a stand-in step.
        named = {b: "x" for b in flowdoc.BRANCHES if step.get(b)}
        choices = {k: "x" for k in step.get("choices", {})}
        body = {**step, **named, **({"choices": choices} if choices else {})}
        flowdoc.parse({"start": "s", "steps": {"s": body, "x": {"type": "hangup"}}})


def _at(when: str, zone: str = "Asia/Tokyo") -> int:
    return int(datetime.fromisoformat(when).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


STEP = flowdoc.parse(
    {
        "start": "h",
        "steps": {
            "h": {
                "type": "schedule",
                "hours": {"mon": [["09:00", "12:00"], ["13:00", "24:00"]], "sat": []},
                "closed_days": ["2026-12-28"],
                "open": "o",
                "closed": "c",
            },
            "o": {"type": "hangup"},
            "c": {"type": "hangup"},
        },
    }
).step("h")


@pytest.mark.parametrize(
    ("when", "state"),
    [
        ("2026-12-07T08:59", "closed"),
        ("2026-12-07T09:00", "open"),
        ("2026-12-07T12:30", "closed"),  # the break
        ("2026-12-07T23:59", "open"),  # until 24:00
        ("2026-12-28T10:00", "holiday"),  # a custom closed day (a Monday)
        ("2027-01-11T10:00", "holiday"),  # 成人の日 2027 (second Monday of January)
        ("2026-09-22T10:00", "holiday"),  # 国民の休日 (between two holidays)
        ("2026-12-12T10:00", "closed"),  # Saturday: no spans
    ],
)
def test_schedule_state(when: str, state: str) -> None:
    assert schedule.state(STEP, _at(when)) == state


def test_the_site_time_zone_is_used_unless_the_step_names_one() -> None:
    monday_9_tokyo = _at("2026-12-07T09:30")
    assert schedule.state(STEP, monday_9_tokyo, "Asia/Tokyo") == "open"
    # The same instant is Sunday evening in New York.
    assert schedule.state(STEP, monday_9_tokyo, "America/New_York") == "closed"


def test_a_holiday_without_its_own_branch_takes_closed() -> None:
    assert schedule.branch(STEP, _at("2026-12-28T10:00")) == "c"


@pytest.mark.parametrize(
    ("flow", "where"),
    [
        (
            {
                "start": "a",
                "steps": {
                    "a": {"type": "message", "prompt": {"say": "x"}, "next": "b"},
                    "b": {"type": "message", "prompt": {"say": "y"}, "next": "a"},
                },
            },
            "steps.a",
        ),
        (
            {"start": "a", "steps": {"a": {"type": "schedule", "time_zone": "Mars/Base"}}},
            "steps.a.time_zone",
        ),
        (
            {
                "start": "a",
                "steps": {"a": {"type": "ring", "destinations": ["0311112222"], "mode": "random"}},
            },
            "steps.a.mode",
        ),
        ({"start": "a", "steps": {"A!": {"type": "hangup"}}}, "steps.A!"),
        (
            {
                "start": "a",
                "steps": {"a": {"type": "message", "prompt": {"say": "x", "play": "y"}}},
            },
            "steps.a.prompt",
        ),
        (
            {
                "start": "a",
                "steps": {
                    "a": {
                        "type": "queue",
                        "destinations": ["0311112222"],
                        "hold_audio": "http://plain.example/x.mp3",
                    }
                },
            },
            "steps.a.hold_audio",
        ),
    ],
)
def test_refusals_name_the_step(flow: dict[str, object], where: str) -> None:
    with pytest.raises(flowdoc.FlowError) as refused:
        flowdoc.parse(flow)
    assert refused.value.where == where


def test_sms_steps_check_their_recipients_template_and_loops() -> None:
    flow = flowdoc.parse(
        {
            "start": "a",
            "steps": {
                "a": {"type": "sms", "to": ["090-1111-0001"], "template": "{caller}", "next": "b"},
                "b": {"type": "sms", "when": "missed", "template": "{keyword}{time}"},
            },
        }
    )
    assert flow.step("a").to == ("+819011110001",) and flow.step("a").when == "always"
    assert flow.step("b").to == ("caller",) and flow.step("b").when == "missed"
    bad = [
        ({"type": "sms", "template": "x", "when": "later"}, "steps.s.when"),
        ({"type": "sms", "template": "   "}, "steps.s.template"),
        ({"type": "sms", "template": "{caller!r}"}, "steps.s.template"),
        ({"type": "sms", "template": "x", "to": ["090-1111-0001"] * 6}, "steps.s.to"),
        ({"type": "sms", "template": "x", "prompt": {"say": "x"}}, "steps.s"),
    ]
    for step, where in bad:
        with pytest.raises(flowdoc.FlowError) as refused:
            flowdoc.parse({"start": "s", "steps": {"s": step}})
        assert refused.value.where == where, step
    # Two texts leading to each other would go round without end in one answer.
    with pytest.raises(flowdoc.FlowError, match="leads back to itself"):
        flowdoc.parse(
            {
                "start": "a",
                "steps": {
                    "a": {"type": "sms", "template": "x", "next": "b"},
                    "b": {"type": "sms", "template": "y", "next": "a"},
                },
            }
        )
