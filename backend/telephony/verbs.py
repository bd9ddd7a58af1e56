"""A call answer as a sequence of verbs: what the caller hears and where the call goes.

The voice answer is a tuple of the verbs below, in the order they are played. They are
plain data: :mod:`backend.telephony.twiml` renders them as TwiML for Twilio, and
:mod:`backend.telephony.pbx` mirrors the same answer as JSON for a PBX. A call-flow step
(business hours, ring, queue, menu...) is a function that returns verbs; steps compose by
concatenating their tuples, and a step that waits for the caller (``Gather``, ``Dial`` with
an action, ``Record``) names the URL Twilio comes back to for the next step.

The verbs mirror Twilio's vocabulary (https://www.twilio.com/docs/voice/twiml), with only
the attributes callpath uses; a default value is not written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Say:
    """Words spoken by text-to-speech (empty ``voice``: Twilio's default voice)."""

    text: str
    language: str = "ja-JP"
    voice: str = ""


@dataclass(frozen=True)
class Play:
    """An audio file played from ``url`` (``loop`` times; 0 repeats until the call moves on)."""

    url: str
    loop: int = 1


@dataclass(frozen=True)
class Pause:
    """Silence for ``length_s`` seconds."""

    length_s: int = 1


@dataclass(frozen=True)
class Number:
    """A phone number dialled by ``Dial``; ``whisper_url`` is fetched and played to the
    person who answers before the caller is connected (入電ガイダンス)."""

    number: str
    whisper_url: str = ""
    # Told when this number answers (a flow's simultaneous ring learns who answered).
    answered_url: str = ""


@dataclass(frozen=True)
class Dial:
    """Put the caller through to ``numbers`` (rung together; the first to answer wins).

    ``caller_id`` empty shows the caller's own number. ``action_url`` is where Twilio reports
    the outcome (``DialCallStatus``) and asks for the next verbs. ``record`` records both
    sides from answer, reported to ``recording_callback_url``.
    """

    numbers: tuple[Number, ...]
    timeout_s: int = 30
    caller_id: str = ""
    action_url: str = ""
    record: bool = False
    recording_callback_url: str = ""
    answer_on_bridge: bool = True


@dataclass(frozen=True)
class Record:
    """Record the caller (voicemail): at most ``max_length_s`` seconds, after a beep;
    the recording is reported to ``action_url`` (and ``recording_callback_url`` when ready)."""

    action_url: str = ""
    max_length_s: int = 120
    play_beep: bool = True
    finish_on_key: str = "#"
    timeout_s: int = 5
    recording_callback_url: str = ""


@dataclass(frozen=True)
class Gather:
    """Listen for digits while ``prompt`` plays; the digits go to ``action_url``.

    ``num_digits`` 0: until ``finish_on_key`` or ``timeout_s`` seconds of silence. Without
    digits Twilio goes on with the verbs after the ``Gather`` (``action_on_empty``: it
    calls ``action_url`` anyway, with empty ``Digits``).
    """

    action_url: str
    prompt: tuple[Say | Play | Pause, ...] = ()
    num_digits: int = 0
    timeout_s: int = 5
    finish_on_key: str = "#"
    action_on_empty: bool = False


@dataclass(frozen=True)
class Enqueue:
    """Put the caller in the queue ``name``: ``wait_url`` answers what they hear while
    waiting (played again and again), ``action_url`` is told when they leave it."""

    name: str
    wait_url: str
    action_url: str


@dataclass(frozen=True)
class Leave:
    """Take the caller out of their queue (only in a queue's wait answer): Twilio goes on
    to the ``Enqueue`` action with ``QueueResult=leave``."""


@dataclass(frozen=True)
class Redirect:
    """Continue with the verbs that ``url`` answers."""

    url: str


@dataclass(frozen=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True)
class Reject:
    """Refuse the call unanswered (the caller hears busy; nothing is billed)."""

    reason: str = "rejected"


Verb = Say | Play | Pause | Dial | Record | Gather | Enqueue | Leave | Redirect | Hangup | Reject
Answer = tuple[Verb, ...]


@dataclass(frozen=True)
class Forward:
    """What forwarding one call needs: the step that ends every call flow today."""

    forward_to: str
    timeout_s: int = 30
    caller_id: str = ""  # empty: the business sees the caller's own number
    action_url: str = ""
    record: bool = False
    recording_callback_url: str = ""
    recording_notice: str = ""
    whisper_url: str = ""
    language: str = "ja-JP"
    voice: str = "Polly.Mizuki"


def forward(step: Forward) -> Answer:
    """The verbs that put a call through: the recording notice when recording, then a
    ``Dial`` to the target with the whisper on its ``Number``."""
    notice: Answer = ()
    if step.record and step.recording_notice:
        notice = (Say(step.recording_notice, step.language, step.voice),)
    dial = Dial(
        numbers=(Number(step.forward_to, step.whisper_url),),
        timeout_s=step.timeout_s,
        caller_id=step.caller_id,
        action_url=step.action_url,
        record=step.record,
        recording_callback_url=step.recording_callback_url,
    )
    return (*notice, dial)


def dial_of(answer: Answer) -> Dial | None:
    """The answer's first ``Dial`` (None when it puts no one through)."""
    return next((verb for verb in answer if isinstance(verb, Dial)), None)
