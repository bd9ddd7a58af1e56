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
