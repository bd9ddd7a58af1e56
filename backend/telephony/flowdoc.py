"""The call-flow document: what a business number does with a call, as data.

A flow is JSON (published as the ``CallFlow`` schema in the OpenAPI document)::

    {"schema": 1, "start": "hours", "steps": {
        "hours": {"type": "schedule", "hours": {"mon": [["09:00", "19:00"]]},
                  "open": "staff", "closed": "vm"},
        "staff": {"type": "ring", "mode": "sequential",
                  "destinations": [{"number": "+819011112222", "timeout_s": 15},
                                   {"number": "+819033334444"}],
                  "no_answer": "vm"},
        "vm": {"type": "voicemail", "prompt": {"say": "発信音の後にどうぞ"}}}}

Steps are named (``[a-z0-9_-]``, at most 32 characters); a branch names the step it leads
to, and a branch left empty hangs up. :func:`parse` checks a document completely and
raises :class:`FlowError` naming the step (``steps.staff.destinations[1].number``) for the
first thing wrong. It is pure: the schedule's holidays and the evaluation are elsewhere
(:mod:`backend.telephony.schedule`, :mod:`backend.telephony.flows`).

Step types: ``schedule``, ``ring``, ``menu``, ``queue``, ``message``, ``voicemail``,
``sms`` (a text after the call, sent by :mod:`backend.telephony.flowsms`), ``hangup``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from backend.telephony.sms import MAX_BODY, check_template

SCHEMA_VERSION = 1
MAX_STEPS = 50
MAX_BYTES = 64_000
STEP_TYPES = ("schedule", "ring", "menu", "queue", "message", "voicemail", "sms", "hangup")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RING_MODES = ("simultaneous", "sequential", "round_robin")
LANGUAGES = ("ja-JP", "en-US", "en-GB", "en-AU")
MENU_KEYS = tuple("0123456789*#")
# sms: when the text goes (the call's outcome once it has ended), and the places its
# template may use (filled by backend.telephony.flowsms).
SMS_WHEN = ("always", "missed", "answered")
SMS_FIELDS = frozenset(
    {
        "caller",
        "number",
        "target",
        "target_name",
        "site",
        "advertiser",
        "source",
        "medium",
        "campaign",
        "keyword",
        "channel",
        "date",
        "time",
        "status",
        "answered_by",
        "menu_path",
    }
)
MAX_SMS_TO = 5
_STEP_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_DAY = re.compile(r"^[0-9]{4}-[01][0-9]-[0-3][0-9]$")
_VOICE = re.compile(r"^[A-Za-z0-9._-]{1,60}$")


class FlowError(ValueError):
    """A flow document that cannot be used; ``where`` names the step and field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class Prompt:
    """Words to say (``say``, in ``language`` with ``voice``; empty: the call options'),
    a sound to play (``play``: an https URL) or an uploaded file (``audio``: its id,
    :mod:`backend.telephony.audio`)."""

    say: str = ""
    language: str = ""
    voice: str = ""
    play: str = ""
    audio: int = 0


@dataclass(frozen=True)
class Destination:
    """A phone to ring, for at most ``timeout_s`` seconds."""

    number: str
    timeout_s: int = 20
    label: str = ""


@dataclass(frozen=True)
class Step:
    """One step; only the fields of its ``type`` are used (see the schema)."""

    id: str
    type: str
    prompt: tuple[Prompt, ...] = ()
    # schedule
    hours: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: str = "JP"
    closed_days: frozenset[str] = frozenset()
    time_zone: str = ""
    open: str = ""
    closed: str = ""
    holiday: str = ""
    # ring, queue
    mode: str = "simultaneous"
    destinations: tuple[Destination, ...] = ()
    timeout_s: int = 20
    no_answer: str = ""
    busy: str = ""
    # menu
    choices: dict[str, str] = field(default_factory=dict)
    retries: int = 2
    default: str = ""
    invalid_prompt: tuple[Prompt, ...] = ()
    # queue
    hold_audio: str = ""
    announce_position: bool = False
    max_wait_s: int = 120
    retry_every_s: int = 30
    # voicemail
    max_length_s: int = 120
    beep: bool = True
    # sms: to the caller ("caller") or to staff (numbers), when, and what it says
    to: tuple[str, ...] = ()
    when: str = "always"
    template: str = ""
    # message, voicemail
    next: str = ""


@dataclass(frozen=True)
class Flow:
    """A checked flow: its steps by id and the one a call starts at."""

    start: str
    steps: dict[str, Step]

    def step(self, step_id: str) -> Step:
        """The step ``step_id`` (KeyError when the flow has none)."""
        return self.steps[step_id]

    def audio_ids(self) -> dict[int, str]:
        """Uploaded audio the flow plays: id -> the first step naming it."""
        found: dict[int, str] = {}
        for step in self.steps.values():
            for prompt in (*step.prompt, *step.invalid_prompt):
                if prompt.audio:
                    found.setdefault(prompt.audio, step.id)
        return found


def _want(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise FlowError(where, message)


def _int(raw: dict[str, Any], key: str, where: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    _want(
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
        f"{where}.{key}",
        f"must be a whole number from {low} to {high}",
    )
    return int(value)


def _bool(raw: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    _want(isinstance(value, bool), f"{where}.{key}", "must be true or false")
    return bool(value)


def _text(raw: dict[str, Any], key: str, where: str, limit: int = 500) -> str:
    value = raw.get(key, "")
    _want(
        isinstance(value, str) and len(value) <= limit,
        f"{where}.{key}",
        f"must be text of at most {limit} characters",
    )
    return str(value)


def _https(value: str, where: str) -> str:
    _want(
        value.startswith("https://") and len(value) <= 1000 and " " not in value,
        where,
        "must be an https:// URL",
    )
    return value


def e164(value: Any, where: str) -> str:
    """``value`` as an E.164 number (Japanese national form accepted), or FlowError."""
    _want(isinstance(value, str) and 0 < len(value) <= 40, where, "must be a phone number")
    try:
        parsed = phonenumbers.parse(value, "JP")
    except phonenumbers.NumberParseException:
        raise FlowError(where, "is not a phone number") from None
    _want(phonenumbers.is_possible_number(parsed), where, "is not a phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _prompts(raw: Any, where: str) -> tuple[Prompt, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    _want(len(items) <= 5, where, "at most 5 prompts")
    out = []
    for n, item in enumerate(items):
        here = f"{where}[{n}]" if isinstance(raw, list) else where
        _want(isinstance(item, dict), here, "must be an object with say, play or audio")
        unknown = set(item) - {"say", "language", "voice", "play", "audio"}
        _want(not unknown, here, f"unknown fields {sorted(unknown)}")
        say, play = _text(item, "say", here, 1000), _text(item, "play", here, 1000)
        audio = _int(item, "audio", here, 0, 0, 10**12) if "audio" in item else 0
        _want(bool(say) + bool(play) + bool(audio) == 1, here, "needs one of say, play or audio")
        language, voice = _text(item, "language", here, 10), _text(item, "voice", here, 60)
        _want(not language or language in LANGUAGES, f"{here}.language", f"one of {LANGUAGES}")
        _want(not voice or bool(_VOICE.match(voice)), f"{here}.voice", "is not a voice name")
        out.append(
            Prompt(say, language, voice, _https(play, f"{here}.play") if play else "", audio)
        )
    return tuple(out)


def _minutes(value: Any, where: str) -> int:
    _want(isinstance(value, str) and bool(_HHMM.match(value)), where, "must be HH:MM")
    hh, mm = str(value).split(":")
    return int(hh) * 60 + int(mm)


def _hours(raw: Any, where: str) -> dict[str, tuple[tuple[int, int], ...]]:
    _want(isinstance(raw, dict), where, "must map weekdays (mon..sun) to opening times")
    out: dict[str, tuple[tuple[int, int], ...]] = {}
    for day, spans in raw.items():
        here = f"{where}.{day}"
        _want(day in WEEKDAYS, here, f"is not a weekday ({', '.join(WEEKDAYS)})")
        _want(isinstance(spans, list) and len(spans) <= 6, here, "must be a list of [open, close]")
        parsed: list[tuple[int, int]] = []
        for n, span in enumerate(spans):
            _want(
                isinstance(span, list) and len(span) == 2, f"{here}[{n}]", "must be [open, close]"
            )
            start, end = _minutes(span[0], f"{here}[{n}]"), _minutes(span[1], f"{here}[{n}]")
            _want(start < end, f"{here}[{n}]", "opens before it closes")
            _want(
                not parsed or parsed[-1][1] <= start, f"{here}[{n}]", "must follow the one before"
            )
            parsed.append((start, end))
        out[day] = tuple(parsed)
    return out


def _destinations(raw: Any, where: str, default_timeout: int) -> tuple[Destination, ...]:
    _want(isinstance(raw, list) and 1 <= len(raw) <= 10, where, "must list 1 to 10 destinations")
    out = []
    for n, item in enumerate(raw):
        here = f"{where}[{n}]"
        if isinstance(item, str):
            item = {"number": item}
        _want(isinstance(item, dict), here, "must be a number or {number, timeout_s}")
        out.append(
            Destination(
                e164(item.get("number"), f"{here}.number"),
                _int(item, "timeout_s", here, default_timeout, 5, 120),
                _text(item, "label", here, 60),
            )
        )
    return tuple(out)


_FIELDS: dict[str, set[str]] = {
    "schedule": {"time_zone", "hours", "holidays", "closed_days", "open", "closed", "holiday"},
    "ring": {"mode", "destinations", "timeout_s", "no_answer", "busy"},
    "menu": {"prompt", "choices", "timeout_s", "retries", "default", "invalid_prompt"},
    "queue": {
        "prompt",
        "hold_audio",
        "announce_position",
        "max_wait_s",
        "destinations",
        "timeout_s",
        "retry_every_s",
        "no_answer",
    },
    "message": {"prompt", "next"},
    "voicemail": {"prompt", "max_length_s", "beep", "next"},
    "sms": {"to", "when", "template", "next"},
    "hangup": set(),
}
# Fields that name another step.
BRANCHES = ("open", "closed", "holiday", "no_answer", "busy", "default", "next")


def _step(step_id: str, raw: Any) -> Step:
    where = f"steps.{step_id}"
    _want(bool(_STEP_ID.match(step_id)), where, "a step id is a-z, 0-9, _ or -, at most 32")
    _want(isinstance(raw, dict), where, "must be an object with a type")
    kind = raw.get("type")
    _want(kind in STEP_TYPES, f"{where}.type", f"must be one of {', '.join(STEP_TYPES)}")
    unknown = set(raw) - _FIELDS[kind] - {"type", "label"}
    _want(not unknown, where, f"unknown fields for a {kind} step: {sorted(unknown)}")
    args: dict[str, Any] = {"id": step_id, "type": kind}
    _text(raw, "label", where, 100)  # a name for people: text, or refused
    for name in BRANCHES:
        if name in _FIELDS[kind]:
            args[name] = _text(raw, name, where, 32)
    if "prompt" in _FIELDS[kind]:
        args["prompt"] = _prompts(raw.get("prompt"), f"{where}.prompt")
    if kind == "schedule":
        args["hours"] = _hours(raw.get("hours", {}), f"{where}.hours")
        args["holidays"] = _text(raw, "holidays", where, 2) if "holidays" in raw else "JP"
        _want(args["holidays"] in ("JP", ""), f"{where}.holidays", "is 'JP' or '' (none)")
        days = raw.get("closed_days", [])
        _want(
            isinstance(days, list) and len(days) <= 366, f"{where}.closed_days", "a list of dates"
        )
        for n, day in enumerate(days):
            ok = isinstance(day, str) and bool(_DAY.match(day))
            _want(ok, f"{where}.closed_days[{n}]", "must be YYYY-MM-DD")
        args["closed_days"] = frozenset(days)
        args["time_zone"] = _text(raw, "time_zone", where, 60)
        if args["time_zone"]:
            from backend.telephony.schedule import zone  # zoneinfo, checked where it is used

            _want(zone(args["time_zone"]) is not None, f"{where}.time_zone", "unknown time zone")
    elif kind == "ring":
        args["mode"] = raw.get("mode", "simultaneous")
        _want(
            args["mode"] in RING_MODES, f"{where}.mode", f"must be one of {', '.join(RING_MODES)}"
        )
        args["timeout_s"] = _int(raw, "timeout_s", where, 20, 5, 120)
        args["destinations"] = _destinations(
            raw.get("destinations"), f"{where}.destinations", args["timeout_s"]
        )
    elif kind == "menu":
        choices = raw.get("choices")
        _want(
            isinstance(choices, dict) and bool(choices),
            f"{where}.choices",
            "must map keys to steps",
        )
        for key, target in choices.items():
            _want(key in MENU_KEYS, f"{where}.choices.{key}", "a key is one of 0-9, * or #")
            _want(
                isinstance(target, str) and bool(target),
                f"{where}.choices.{key}",
                "must name a step",
            )
        args["choices"] = dict(choices)
        args["timeout_s"] = _int(raw, "timeout_s", where, 5, 1, 30)
        args["retries"] = _int(raw, "retries", where, 2, 0, 5)
        args["invalid_prompt"] = _prompts(raw.get("invalid_prompt"), f"{where}.invalid_prompt")
        _want(bool(args["prompt"]), f"{where}.prompt", "a menu needs a prompt")
    elif kind == "queue":
        args["hold_audio"] = _text(raw, "hold_audio", where, 1000)
        if args["hold_audio"]:
            _https(args["hold_audio"], f"{where}.hold_audio")
        args["announce_position"] = _bool(raw, "announce_position", where, False)
        args["max_wait_s"] = _int(raw, "max_wait_s", where, 120, 10, 3600)
        args["retry_every_s"] = _int(raw, "retry_every_s", where, 30, 10, 600)
        args["timeout_s"] = _int(raw, "timeout_s", where, 20, 5, 120)
        args["destinations"] = _destinations(
            raw.get("destinations"), f"{where}.destinations", args["timeout_s"]
        )
    elif kind == "voicemail":
        args["max_length_s"] = _int(raw, "max_length_s", where, 120, 5, 600)
        args["beep"] = _bool(raw, "beep", where, True)
    elif kind == "message":
        _want(bool(args["prompt"]), f"{where}.prompt", "a message needs a prompt")
    elif kind == "sms":
        args.update(_sms(raw, where))
    return Step(**args)


def _sms(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """An sms step's fields: ``to`` ``"caller"`` or staff numbers, ``when``, ``template``."""
    to = raw.get("to", "caller")
    if to == "caller":
        numbers: tuple[str, ...] = ("caller",)
    else:
        _want(
            isinstance(to, list) and 1 <= len(to) <= MAX_SMS_TO,
            f"{where}.to",
            f"is 'caller' or a list of 1 to {MAX_SMS_TO} staff numbers",
        )
        numbers = tuple(e164(n, f"{where}.to[{i}]") for i, n in enumerate(to))
    when = raw.get("when", "always")
    _want(when in SMS_WHEN, f"{where}.when", f"must be one of {', '.join(SMS_WHEN)}")
    template = raw.get("template")
    _want(
        isinstance(template, str) and bool(template.strip()) and len(template) <= MAX_BODY,
        f"{where}.template",
        f"must be text of 1 to {MAX_BODY} characters",
    )
    try:
        check_template(str(template), SMS_FIELDS)
    except ValueError as exc:
        raise FlowError(f"{where}.template", str(exc).removeprefix("template: ")) from None
    return {"to": numbers, "when": when, "template": str(template)}


def parse(raw: Any) -> Flow:
    """The flow of a JSON value, checked completely; FlowError names what is wrong."""
    _want(isinstance(raw, dict), "flow", "must be a JSON object")
    unknown = set(raw) - {"schema", "start", "steps", "name"}
    _want(not unknown, "flow", f"unknown fields {sorted(unknown)}")
    _text(raw, "name", "flow", 100)
    _want(
        raw.get("schema", SCHEMA_VERSION) == SCHEMA_VERSION, "schema", f"must be {SCHEMA_VERSION}"
    )
    steps_raw = raw.get("steps")
    _want(isinstance(steps_raw, dict) and bool(steps_raw), "steps", "must name at least one step")
    _want(len(steps_raw) <= MAX_STEPS, "steps", f"at most {MAX_STEPS} steps")
    steps = {step_id: _step(step_id, body) for step_id, body in steps_raw.items()}
    start = raw.get("start")
    _want(isinstance(start, str) and start in steps, "start", "must name one of the steps")
    for step in steps.values():
        named = [(b, getattr(step, b)) for b in BRANCHES]
        named += [(f"choices.{k}", v) for k, v in step.choices.items()]
        for branch, target in named:
            ok = not target or target in steps
            _want(ok, f"steps.{step.id}.{branch}", f"names no step {target!r}")
            _want(
                target != step.id or step.type == "menu",
                f"steps.{step.id}.{branch}",
                "loops to itself",
            )
        if step.type == "menu":
            _want(bool(step.default), f"steps.{step.id}.default", "a menu needs a default step")
    _no_silent_loop(steps, str(start))
    return Flow(str(start), steps)


def _no_silent_loop(steps: dict[str, Step], start: str) -> None:
    """Refuse a cycle of steps that never wait (schedule, message, sms, hangup): a call would go
    round it without end in one answer."""
    immediate = ("schedule", "message", "sms", "hangup")
    done: set[str] = set()

    def walk(step_id: str, path: tuple[str, ...]) -> None:
        step = steps[step_id]
        if step_id in path:
            raise FlowError(f"steps.{path[0]}", f"leads back to itself ({' > '.join(path)})")
        if step_id in done or step.type not in immediate:
            return
        for branch in (step.open, step.closed, step.holiday, step.next):
            if branch:
                walk(branch, (*path, step_id))
        done.add(step_id)

    for step_id in steps:
        walk(step_id, ())


_PROMPT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/components/schemas/FlowPromptItem"},
        {"type": "array", "maxItems": 5, "items": {"$ref": "#/components/schemas/FlowPromptItem"}},
    ]
}
_BRANCH: dict[str, Any] = {
    "type": "string",
    "maxLength": 32,
    "description": "a step id ('' hangs up)",
}
_DEST: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 10,
    "items": {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["number"],
                "properties": {
                    "number": {"type": "string", "maxLength": 40},
                    "timeout_s": {"type": "integer", "minimum": 5, "maximum": 120},
                    "label": {"type": "string", "maxLength": 60},
                },
            },
        ]
    },
}


def _step_schema(
    kind: str, props: dict[str, Any], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", *required],
        "properties": {
            "type": {"const": kind},
            "label": {"type": "string", "maxLength": 100},
            **props,
        },
    }


def _spans() -> dict[str, Any]:
    time = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}
    span = {"type": "array", "minItems": 2, "maxItems": 2, "items": time}
    return {"type": "array", "maxItems": 6, "items": span}


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON schemas of a flow document (``CallFlow`` and its parts) for OpenAPI.

    The checks :func:`parse` adds beyond them: branches name existing steps, E.164
    numbers, opening times in order, known time zones, no loop of schedule steps.
    """
    steps = {
        "FlowPromptItem": {
            "type": "object",
            "additionalProperties": False,
            "description": "say (text-to-speech), play (an https audio URL) or audio (the id"
            " of an uploaded file, POST /api/audio)",
            "properties": {
                "say": {"type": "string", "maxLength": 1000},
                "audio": {"type": "integer", "minimum": 1},
                "language": {"enum": list(LANGUAGES)},
                "voice": {"type": "string", "maxLength": 60},
                "play": {"type": "string", "maxLength": 1000},
            },
        },
        "FlowSchedule": _step_schema(
            "schedule",
            {
                "time_zone": {"type": "string", "description": "IANA zone; default the site's"},
                "hours": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {day: _spans() for day in WEEKDAYS},
                },
                "holidays": {"enum": ["JP", ""]},
                "closed_days": {
                    "type": "array",
                    "maxItems": 366,
                    "items": {"type": "string", "format": "date"},
                },
                "open": _BRANCH,
                "closed": _BRANCH,
                "holiday": _BRANCH,
            },
        ),
        "FlowRing": _step_schema(
            "ring",
            {
                "mode": {"enum": list(RING_MODES)},
                "destinations": _DEST,
                "timeout_s": {"type": "integer", "minimum": 5, "maximum": 120},
                "no_answer": _BRANCH,
                "busy": _BRANCH,
            },
            ("destinations",),
        ),
        "FlowMenu": _step_schema(
            "menu",
            {
                "prompt": _PROMPT_SCHEMA,
                "choices": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"enum": list(MENU_KEYS)},
                    "additionalProperties": {"type": "string"},
                },
                "timeout_s": {"type": "integer", "minimum": 1, "maximum": 30},
                "retries": {"type": "integer", "minimum": 0, "maximum": 5},
                "default": _BRANCH,
                "invalid_prompt": _PROMPT_SCHEMA,
            },
            ("prompt", "choices", "default"),
        ),
        "FlowQueue": _step_schema(
            "queue",
            {
                "prompt": _PROMPT_SCHEMA,
                "hold_audio": {"type": "string", "maxLength": 1000},
                "announce_position": {"type": "boolean"},
                "max_wait_s": {"type": "integer", "minimum": 10, "maximum": 3600},
                "destinations": _DEST,
                "timeout_s": {"type": "integer", "minimum": 5, "maximum": 120},
                "retry_every_s": {"type": "integer", "minimum": 10, "maximum": 600},
                "no_answer": _BRANCH,
            },
            ("destinations",),
        ),
        "FlowMessage": _step_schema(
            "message", {"prompt": _PROMPT_SCHEMA, "next": _BRANCH}, ("prompt",)
        ),
        "FlowVoicemail": _step_schema(
            "voicemail",
            {
                "prompt": _PROMPT_SCHEMA,
                "max_length_s": {"type": "integer", "minimum": 5, "maximum": 600},
                "beep": {"type": "boolean"},
                "next": _BRANCH,
            },
        ),
        "FlowSms": _step_schema(
            "sms",
            {
                "to": {
                    "description": "'caller' (a confirmation, a missed-call text-back) or"
                    " staff numbers (a new-call alert)",
                    "oneOf": [
                        {"const": "caller"},
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_SMS_TO,
                            "items": {"type": "string", "maxLength": 40},
                        },
                    ],
                },
                "when": {
                    "enum": list(SMS_WHEN),
                    "description": "sent once the call has ended: always, only when no one"
                    " answered (missed), or only when someone did",
                },
                "template": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_BODY,
                    "description": "the text, with places of the call: "
                    + ", ".join("{" + f + "}" for f in sorted(SMS_FIELDS)),
                },
                "next": _BRANCH,
            },
            ("template",),
        ),
        "FlowHangup": _step_schema("hangup", {}),
    }
    kinds = [k for k in steps if k != "FlowPromptItem"]
    steps["CallFlow"] = {
        "type": "object",
        "description": (
            "A call flow (docs/telephony.md#call-flows). Step types: " + ", ".join(STEP_TYPES) + "."
        ),
        "additionalProperties": False,
        "required": ["start", "steps"],
        "properties": {
            "schema": {"const": SCHEMA_VERSION},
            "name": {"type": "string", "maxLength": 100},
            "start": {"type": "string", "maxLength": 32},
            "steps": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": MAX_STEPS,
                "propertyNames": {"pattern": _STEP_ID.pattern},
                "additionalProperties": {
                    "oneOf": [{"$ref": f"#/components/schemas/{k}"} for k in kinds]
                },
            },
        },
    }
    return steps
