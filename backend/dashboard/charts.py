"""Charts drawn on the server as SVG: no script, no CDN, readable at a glance.

Only presentation attributes are used (no ``style``), so the dashboard's Content-Security-
Policy (``style-src 'self'``) holds. Every bar carries a ``<title>`` with its exact value.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

# Okabe-Ito: distinguishable by people with colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
OTHER = "#BBBBBB"


def _text_width(text: str, font_px: int = 12) -> int:
    """About how wide ``text`` is drawn: CJK (wide) characters take a full em, others ~0.6."""
    return int(
        sum(font_px if unicodedata.east_asian_width(c) in "WF" else font_px * 0.6 for c in text)
    )


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value``."""
    if value <= 5:
        return 5
    for step in (10, 20, 25, 50):
        if value <= step:
            return step
    magnitude = 1
    while magnitude * 10 < value:
        magnitude *= 10
    for mult in (1, 2, 2.5, 5, 10):
        top = int(magnitude * mult)
        if value <= top:
            return top
    return value


def series_colours(keys: Sequence[str]) -> dict[str, str]:
    """A colour per key, stable for the order given (largest first reads best)."""
    return {k: PALETTE[i] if i < len(PALETTE) else OTHER for i, k in enumerate(keys)}


def stacked_days(
    days: Mapping[date, Mapping[str, int]],
    order: Sequence[str],
    labels: Mapping[str, str],
    *,
    width: int = 760,
    height: int = 240,
    title: str = "",
) -> Markup:
    """Stacked columns: one per day, one colour per key (channel), with a legend."""
    colours = series_colours(order)
    left, right, top, bottom = 40, 10, 10, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    day_list = sorted(days)
    n = max(1, len(day_list))
    peak = max((sum(v.values()) for v in days.values()), default=0)
    y_max = _nice_max(peak)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.72)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' class="chart" role="img" aria-label="{escape(title)}">'
    ]
    # Five steps: every round maximum (5, 10, 20, 25, 50, 100, 250…) divides by five, so
    # each line's label is its exact value (quarters of 5 or 10 are not whole numbers).
    for i in range(6):
        value = y_max * i // 5
        y = top + plot_h - plot_h * i / 5
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"'
            ' stroke="#e3e6ea" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="#5f6b7a">{value}</text>'
        )
    label_every = max(1, round(n / 10))
    for i, day in enumerate(day_list):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        counts = days[day]
        for key in order:
            count = counts.get(key, 0)
            if not count:
                continue
            h = plot_h * count / y_max
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}"'
                f' fill="{colours[key]}"><title>{day.isoformat()} · '
                f"{escape(labels.get(key, key))}: {count}</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{left + slot * i + slot / 2:.1f}" y="{top + plot_h + 14}"'
                f' text-anchor="middle" font-size="11" fill="#5f6b7a">'
                f"{day.month}/{day.day}</text>"
            )
    lx, ly = left, height - 18
    for key in order[: len(PALETTE)]:
        label = str(labels.get(key, key))[:24]
        out.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" rx="2" fill="{colours[key]}"/>'
            f'<text x="{lx + 14}" y="{ly}" font-size="12" fill="#22303f">{escape(label)}</text>'
        )
        lx += 24 + _text_width(label)
        if lx > width - 80:
            break
    out.append("</svg>")
    return Markup("".join(out))


def horizontal_bars(
    rows: Sequence[tuple[str, int]],
    *,
    width: int = 420,
    bar_h: int = 22,
    limit: int = 8,
    title: str = "",
) -> Markup:
    """Labelled horizontal bars, largest first; the rest summed into one last bar."""
    items = [r for r in rows if r[1] > 0]
    items.sort(key=lambda r: -r[1])
    if len(items) > limit:
        rest = sum(v for _, v in items[limit - 1 :])
        items = [*items[: limit - 1], ("…", rest)]
    total = sum(v for _, v in items) or 1
    peak = max((v for _, v in items), default=1)
    label_w, value_w = 140, 70
    plot_w = width - label_w - value_w
    height = max(bar_h, bar_h * len(items)) + 4
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' class="chart" role="img" aria-label="{escape(title)}">'
    ]
    for i, (label, value) in enumerate(items):
        y = 2 + i * bar_h
        w = max(2.0, plot_w * value / peak)
        colour = PALETTE[i] if label != "…" else OTHER
        short = label if len(label) <= 20 else label[:19] + "…"
        out.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.68:.1f}" text-anchor="end"'
            f' font-size="12" fill="#22303f">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" rx="3"'
            f' fill="{colour}"><title>{escape(label)}: {value}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.68:.1f}" font-size="12"'
            f' fill="#22303f">{value} ({value * 100 / total:.0f}%)</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def meter(ratio: float, *, width: int = 120, alert: bool = False) -> Markup:
    """A small horizontal gauge for a 0..1 ratio (pool utilization)."""
    r = min(1.0, max(0.0, ratio))
    colour = "#D55E00" if alert or r >= 0.9 else ("#E69F00" if r >= 0.75 else "#009E73")
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 12" width="{width}"'
        f' height="12" class="meter" role="img" aria-label="{r * 100:.0f}%">'
        f'<rect x="0" y="0" width="{width}" height="12" rx="6" fill="#e3e6ea"/>'
        f'<rect x="0" y="0" width="{max(0.0, width * r):.1f}" height="12" rx="6"'
        f' fill="{colour}"/></svg>'
    )
