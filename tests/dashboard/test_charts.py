"""The SVG charts: legend entries never overlap, in Japanese as in English."""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise

from backend.dashboard.charts import stacked_days

LABELS = {"paid": "リスティング広告", "organic": "自然検索", "direct": "直接", "social": "SNS広告"}


def test_legend_entries_leave_room_for_wide_characters() -> None:
    svg = str(stacked_days({date(2026, 11, 1): {"paid": 3, "organic": 1}}, list(LABELS), LABELS))
    legend = re.findall(r'<text x="(\d+)" y="\d+" font-size="12"[^>]*>([^<]+)</text>', svg)
    assert [text for _, text in legend] == list(LABELS.values())
    for (x, text), (next_x, _) in pairwise(legend):
        # Each CJK character is drawn about a full em (12 px) wide at this size.
        assert int(next_x) - int(x) >= 12 * len(text), (text, x, next_x)


def _axis(svg: str) -> list[tuple[float, int]]:
    """The y axis labels as (y position, value), bottom first."""
    found = re.findall(r'<text x="\d+" y="([\d.]+)" text-anchor="end"[^>]*>(\d+)</text>', svg)
    return sorted(((float(y), int(v)) for y, v in found), reverse=True)


def test_each_axis_label_sits_on_its_own_value() -> None:
    # A peak of 3 calls made the axis 0..5 with lines at quarters labelled 0 1 2 3 5: the
    # line at 3.75 said "3", and 4 was missing. Every label must be where its value is.
    for peak in (1, 3, 7, 13, 24, 40, 180, 2400):
        svg = str(stacked_days({date(2026, 11, 1): {"paid": peak}}, ["paid"], {"paid": "Paid"}))
        axis = _axis(svg)
        (y0, v0), (y_top, v_top) = axis[0], axis[-1]
        assert v0 == 0 and v_top >= peak, (peak, axis)
        values = [v for _, v in axis]
        assert values == sorted(set(values)), (peak, axis)
        for y, value in axis:
            expected = y0 - (y0 - y_top) * value / v_top
            assert abs(y - expected) < 0.2, (peak, value, y, expected)
