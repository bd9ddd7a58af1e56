"""The ``callpath simulate`` report: outcomes per pool size, then per confidence."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attribution.simulate import Recommendation, Result

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS

UNFLAGGED_TARGET = 0.005  # wrong without a low confidence or an ambiguous flag (issue #21)


def _per_size(rec: Recommendation, row: Callable[[int, Result], str]) -> list[str]:
    """One table row per pool size, smallest first."""
    return [row(size, rec.results[size]) for size in sorted(rec.results)]


def report(rec: Recommendation) -> str:
    """The sweep as tables people can read: outcomes, then outcomes per confidence."""
    t = rec.traffic
    first = next(iter(rec.results.values()))
    lines = [
        f"traffic: {t.visitors_per_day:g} visitors/day for {t.days} days"
        f" ({rec.visitors} visits, {first.recorded} calls made, {t.call_share:.0%} of visitors"
        f" call, {t.repeat_share:.0%} of callers call again; {first.calls} calls scored)",
        f"pool: ttl {rec.shape.ttl_ms // MIN_MS} min, grace {rec.shape.grace_ms // MIN_MS} min,"
        f" cooldown {rec.shape.cooldown_ms // MIN_MS} min,"
        f" overflow number {'yes' if rec.shape.overflow else 'no'};"
        f" late-call window {rec.shape.late_window_ms / HOUR_MS:g} h",
        "",
        "pool size   correct  ambiguous   wrong  unattributed  overflowed visits",
    ]
    marks: dict[int, list[str]] = {}
    for size, label in (
        (rec.recommended, "recommended"),
        (rec.recommended // 2, "half"),
        (rec.rule_of_thumb, "rule of thumb (1 per 20 daily visitors)"),
        (rec.peak, "never runs out"),
    ):
        marks.setdefault(size, []).append(label)
    lines += _per_size(
        rec,
        lambda size, r: (
            f"{size:>9}   {r.share('correct'):>7.1%}  {r.share('ambiguous'):>9.1%}"
            f"  {r.share('wrong'):>6.1%}  {r.share('unattributed'):>12.1%}"
            f"  {r.overflowed:>17}   {', '.join(marks.get(size, []))}"
        ),
    )
    lines += [
        "",
        "per confidence (shares of all calls scored; ambiguous calls are low):",
        "pool size   high: correct  wrong   medium: correct  wrong   low: correct  wrong"
        "  ambiguous   wrong unflagged",
    ]
    lines += _per_size(
        rec,
        lambda size, r: (
            f"{size:>9}   {r.share('correct', 'exact', 'high'):>13.1%}  "
            f"{r.share('wrong', 'exact', 'high'):>5.1%}"
            f"   {r.share('correct', 'medium'):>15.1%}  {r.share('wrong', 'medium'):>5.1%}"
            f"   {r.share('correct', 'low'):>12.1%}  {r.share('wrong', 'low'):>5.1%}"
            f"  {r.share('ambiguous'):>9.1%}   {r.unflagged_wrong():>15.1%}"
        ),
    )
    if rec.traffic.tap_share > 0:
        lines += [
            "",
            f"tapped calls ({t.tap_share:.0%} of visitors tap the tel: link,"
            f" {t.code_adoption:.0%} of their phones send the code,"
            f" {t.redial_share:.0%} of callers redial from the call history"
            f" {t.redial_min_hours:g}-{t.redial_max_hours:g} h later;"
            f" visit codes {'on' if rec.shape.codes else 'off'}):",
            "pool size   tapped: correct  ambiguous   wrong  unattributed"
            "   redials a day+ later: correct   wrong",
        ]
        lines += _per_size(
            rec,
            lambda size, r: (
                f"{size:>9}   {r.tapped_share('correct'):>15.1%}"
                f"  {r.tapped_share('ambiguous'):>9.1%}  {r.tapped_share('wrong'):>6.1%}"
                f"  {r.tapped_share('unattributed'):>12.1%}"
                f"   {r.tapped_share('correct', day_redials=True):>29.1%}"
                f"  {r.tapped_share('wrong', day_redials=True):>6.1%}"
                f"   ({sum(r.tapped.values())} tapped, {sum(r.redials_day.values())} day+ redials)"
            ),
        )
    best = rec.results[rec.recommended]
    met = "met" if best.unflagged_wrong() <= UNFLAGGED_TARGET else "NOT met"
    lines += [
        "",
        f"recommended pool size: {rec.recommended} numbers"
        f" ({best.share('correct'):.1%} of calls attributed correctly; bar {rec.target:.1%})",
        f"wrong and neither low nor ambiguous at that size: {best.unflagged_wrong():.2%}"
        f" (target at most {UNFLAGGED_TARGET:.1%}: {met})",
        f"rule of thumb would buy: {rec.rule_of_thumb} numbers",
    ]
    return "\n".join(lines)
