"""Call options, declared once: how the calls of an advertiser are put through.

:data:`CALL_OPTIONS` is the one table. Each row names the option and says, for every place
that needs it, what it is called there:

- the setting that gives its server-wide default (``Settings`` reads its default, help and
  range from here: :func:`setting_field`),
- the column of ``call_options`` that holds an advertiser's own value (NULL: the setting),
- the flag of ``callpath calls options``,
- the attribute of :class:`CallOptions` the voice answer reads.

The routing table (:mod:`backend.telephony.routing`), the store (:mod:`backend.telephony.
config`), the CLI (:mod:`backend.commands.calls`) and a docs test
(``tests/telephony/test_call_options.py``) all iterate over it. Adding an option is a row
here, a field of :class:`CallOptions` (and of ``Settings``), a migration adding its column,
and its use in the answer (docs/contributing.md).

This module imports nothing of ``backend``: the settings module reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Caller id shown to the business: the caller's own number, or the tracking number dialled.
CALLER_ID_POLICIES = ("caller", "tracking")


@dataclass(frozen=True)
class CallOption:
    """One call option and its name in each place that holds it."""

    name: str  # attribute of CallOptions
    setting: str  # field of backend.settings.Settings (CALLPATH_<SETTING>)
    column: str  # column of the call_options table
    flag: str  # flag of `callpath calls options`
    kind: type  # bool, int or str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    # An empty stored value means "the setting" (a language must name one).
    blank_is_unset: bool = False

    def check(self, value: Any) -> Any:
        """``value`` as stored for this option; ValueError naming the option when it is
        not one it accepts (None: back to the setting)."""
        if value is None:
            return None
        if self.kind is bool:
            return int(bool(value))
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(f"{self.column} must be a whole number")
            number = int(value)
            if (self.low is not None and number < self.low) or (
                self.high is not None and number > self.high
            ):
                raise ValueError(f"{self.column} must be {self.low}..{self.high} seconds")
            return number
        text = str(value)
        if self.choices and text not in self.choices:
            raise ValueError(f"{self.column} must be one of {', '.join(self.choices)}")
        return text

    def read(self, stored: Any) -> Any:
        """A stored column value as the option's value; None when it falls back to the
        setting (NULL, or a value this version no longer accepts)."""
        if stored is None:
            return None
        if self.kind is bool:
            return bool(stored)
        if self.kind is int:
            # Clamped rather than refused: a row written by hand must not stop a call.
            low = self.low if self.low is not None else int(stored)
            high = self.high if self.high is not None else int(stored)
            return max(low, min(high, int(stored)))
        if (self.choices and stored not in self.choices) or (self.blank_is_unset and not stored):
            return None
        return str(stored)


CALL_OPTIONS: tuple[CallOption, ...] = (
    CallOption(
        "record",
        "record_calls",
        "record",
        "--record",
        bool,
        False,
        "Record forwarded calls (both sides, from answer).",
    ),
    CallOption(
        "whisper",
        "whisper",
        "whisper",
        "--whisper",
        bool,
        False,
        "Announce the call's source to the person who answers (入電ガイダンス), before the "
        "caller is connected.",
    ),
    CallOption(
        "caller_id",
        "caller_id_policy",
        "caller_id",
        "--caller-id",
        str,
        "caller",
        "Caller id shown to the business: `caller` (the caller's number) or `tracking` "
        "(the tracking number that was dialled).",
        choices=CALLER_ID_POLICIES,
    ),
    CallOption(
        "timeout_s",
        "dial_timeout_seconds",
        "dial_timeout_s",
        "--timeout",
        int,
        30,
        "How long a forwarded call rings at the business before it counts as no-answer.",
        low=5,
        high=600,
    ),
    CallOption(
        "language",
        "voice_language",
        "language",
        "--language",
        str,
        "ja-JP",
        "Language of spoken notices and whispers (`ja-JP`, `en-US`, ...).",
        blank_is_unset=True,
    ),
    CallOption(
        "voice",
        "voice_name",
        "voice",
        "--voice",
        str,
        "Polly.Mizuki",
        "Twilio `<Say>` voice for notices and whispers (e.g. `alice`).",
    ),
)
BY_NAME: dict[str, CallOption] = {o.name: o for o in CALL_OPTIONS}
BY_SETTING: dict[str, CallOption] = {o.setting: o for o in CALL_OPTIONS}
BY_COLUMN: dict[str, CallOption] = {o.column: o for o in CALL_OPTIONS}
COLUMNS: tuple[str, ...] = tuple(o.column for o in CALL_OPTIONS)


@dataclass(frozen=True)
class CallOptions:
    """How calls of one advertiser are put through (one attribute per :data:`CALL_OPTIONS`
    row; the defaults are the table's)."""

    record: bool = BY_NAME["record"].default
    whisper: bool = BY_NAME["whisper"].default
    caller_id: str = BY_NAME["caller_id"].default
    timeout_s: int = BY_NAME["timeout_s"].default
    language: str = BY_NAME["language"].default
    voice: str = BY_NAME["voice"].default

    @classmethod
    def from_settings(cls, settings: Any) -> CallOptions:
        """The server-wide defaults: each option's setting."""
        return cls(**{o.name: getattr(settings, o.setting) for o in CALL_OPTIONS})

    def overridden(self, row: Mapping[str, Any]) -> CallOptions:
        """These options with an advertiser's stored ``call_options`` row over them (a
        NULL column keeps the value here)."""
        changes: dict[str, Any] = {}
        for option in CALL_OPTIONS:
            value = option.read(row[option.column])
            if value is not None:
                changes[option.name] = value
        return replace(self, **changes)


def setting_field(name: str) -> Any:
    """The ``Settings`` field of the option whose setting is ``name``: its default, help and
    range come from :data:`CALL_OPTIONS`."""
    option = BY_SETTING[name]
    meta = {"help": option.help, "low": option.low, "high": option.high, "choices": option.choices}
    return field(default=option.default, metadata=meta)
