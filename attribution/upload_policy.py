"""Which matched calls may be sent to an ad platform as conversions.

A conversion upload tells the platform "this click led to this call" and bidding acts on it,
so a guess must not go as a certainty (issue #23). Every call's match has a method and a
confidence (``attribution.matching``); an upload keeps a call only when:

- its method names one visit: ``ambiguous`` (several visits held the number) and
  ``overflow`` (the pool's shared overflow number) are left out unless the upload asks for
  them with ``include_ambiguous``;
- its confidence is at least the upload's minimum (``low`` by default: every call matched to
  one visit; ``medium`` or ``high`` leave out the calls another visit may have made, see
  docs/exports.md for what each costs in conversions).

Calls stored before confidences existed (no confidence) count as ``low``. Each call left
out is counted under its reason, so a file says how many calls it did not carry and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from attribution.matching import CONFIDENCES

# Methods whose session is one choice among several that held the number.
SHARED_METHODS = ("ambiguous", "overflow")
# Why a matched call was not uploaded (the keys of a file's ``skipped`` counts).
SKIP_SHARED = "ambiguous_match"
SKIP_CONFIDENCE = "below_min_confidence"


@dataclass(frozen=True)
class UploadPolicy:
    """The matches an upload accepts: a minimum confidence, and whether shared ones go."""

    min_confidence: str = "low"
    include_ambiguous: bool = False

    def __post_init__(self) -> None:
        if self.min_confidence not in CONFIDENCES:
            raise ValueError(f"min_confidence must be one of {', '.join(CONFIDENCES)}")

    def refusal(self, method: str | None, confidence: str | None) -> str | None:
        """Why a call matched by ``method`` with ``confidence`` is left out (None: it goes)."""
        if method in SHARED_METHODS and not self.include_ambiguous:
            return SKIP_SHARED
        level = confidence if confidence in CONFIDENCES else "low"
        if CONFIDENCES.index(level) > CONFIDENCES.index(self.min_confidence):
            return SKIP_CONFIDENCE
        return None
