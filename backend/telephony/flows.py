"""Running call flows: the verbs of each step, and the next step after each callback.

A call to a tracking number whose target has a flow (:mod:`backend.telephony.flowdoc`)
starts at the flow's ``start`` step. A step that waits for Twilio (``<Dial>``,
``<Gather>``, ``<Enqueue>``, ``<Record>``) names ``/twilio/flow`` with where the call is
in its query (target, version, step, phase, attempt...): Twilio signs that URL with the
rest of its request, so the state needs no storage and cannot be forged. The flow itself
is read from the routing table in memory; only a round-robin ring asks storage for its
turn, within :data:`TURN_BUDGET_S` (then an in-process counter takes over).

Anything that goes wrong (a flow that did not load, a step missing, an exception) is
answered with a plain ``<Dial>`` to the target, and the call records why
(``calls.flow_fallback``). What the call met is sent to the recorder as ``flow`` events
(:mod:`backend.telephony.journey` stores them after the answer has left).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from backend.telephony import audio, flowstore, schedule, verbs
from backend.telephony.calls import CallEvent
from backend.telephony.flowdoc import Destination, Prompt, Step
from backend.telephony.flowstore import LoadedFlow
from backend.telephony.options import CallOptions
from backend.telephony.routing import Route
from backend.telephony.service import Telephony
from backend.telephony.verbs import Answer
from pool.store import now_ms

log = logging.getLogger("callpath.telephony")
PATH = "/twilio/flow"
TURN_BUDGET_S = 0.3
# Longest a flow may take to answer before the caller is put through plainly.
ANSWER_BUDGET_S = 0.8
# Steps a call may pass without a verb that waits (schedule, message) before it is a loop.
MAX_HOPS = 20
ANSWERED = ("completed", "answered")
HOLD_PAUSE_S = 10


class FlowBroken(Exception):
    """The flow cannot be followed for this call; the message says why."""


@dataclass
class Ctx:
    """One request of one call in its flow."""

    tel: Telephony
    params: dict[str, str]
    base: str
    loaded: LoadedFlow
    tracking: str  # the number the caller dialled
    options: CallOptions

    @property
    def sid(self) -> str:
        """The caller's call (a destination's leg reports its parent's)."""
        return self.params.get("ParentCallSid") or self.params.get("CallSid", "")

    def url(self, step: str, phase: str, **state: int) -> str:
        """``/twilio/flow`` with the call's place in the flow."""
        query: dict[str, str | int] = {
            "t": self.loaded.target_id,
            "v": self.loaded.version,
            "tn": self.tracking,
            "s": step,
            "p": phase,
        }
        if self.loaded.scope:  # a tracking number's or a source's flow
            query["sc"] = self.loaded.scope
        query.update(state)
        return f"{self.base}{PATH}?{urlencode(query)}"

    def _submit(self, kind: str, status: str, **fields: Any) -> None:
        """Hand one event of the call to the recorder (written after the answer)."""
        event = CallEvent(
            "twilio", self.sid, kind, now_ms(), self.tracking, status=status, **fields
        )
        self.tel.recorder.submit(event)

    def note(self, key: str, what: str, step: str = "", **detail: Any) -> None:
        """Send one entry of the call's journey to the recorder (``key`` makes it once:
        Twilio retrying a callback writes nothing twice)."""
        caller = (self.params.get("From") or self.params.get("Caller") or "")[:40]
        payload = {"what": what, "step": step, **detail}
        self._submit("flow", f"{step}:{key}"[:200], caller=caller, payload=payload)

    def missed(self, status: str) -> None:
        """The call reached no one (yet): its outcome, so a voicemail or a closed branch is
        never counted as talk. A later answer still overrides it."""
        status = status if status in ("busy", "no-answer", "failed") else "no-answer"
        self._submit("dial", status, talk_s=0)

    def answered(self) -> None:
        """A destination answered: the call's outcome, with the talk time Twilio measured
        (and the recording of the talk, when recorded)."""
        talk = self.params.get("DialCallDuration", "")
        self._submit(
            "dial",
            "completed",
            talk_s=int(talk) if talk.isdigit() and len(talk) < 7 else -1,
            recording_url=self.params.get("RecordingUrl", "")[:1000],
            recording_sid=self.params.get("RecordingSid", "")[:64],
            payload=dict(self.params),
        )


def _say(ctx: Ctx, prompt: Prompt) -> verbs.Say | verbs.Play:
    if prompt.audio:
        secret = ctx.tel.settings.secret_key
        return verbs.Play(audio.signed_url(ctx.base, secret, prompt.audio))
    if prompt.play:
        return verbs.Play(prompt.play)
    language = prompt.language or ctx.options.language
    voice = prompt.voice
    if not voice and language == ctx.options.language:
        voice = ctx.options.voice  # the advertiser's voice speaks its own language only
    return verbs.Say(prompt.say, language, voice)


def _prompts(ctx: Ctx, prompts: tuple[Prompt, ...]) -> tuple[verbs.Say | verbs.Play, ...]:
    return tuple(_say(ctx, p) for p in prompts)


def _number(ctx: Ctx, dest: Destination, answered_url: str = "") -> verbs.Number:
    whisper = ""
    if ctx.options.whisper:
        whisper = f"{ctx.base}/twilio/whisper?" + urlencode(
            {"call": ctx.sid, "number": ctx.tracking}
        )
    return verbs.Number(dest.number, whisper, answered_url)


def _dial(ctx: Ctx, numbers: tuple[verbs.Number, ...], timeout_s: int, action: str) -> verbs.Dial:
    return verbs.Dial(
        numbers,
        timeout_s=timeout_s,
        caller_id=ctx.tracking if ctx.options.caller_id == "tracking" else "",
        action_url=action,
        record=ctx.options.record,
        recording_callback_url=f"{ctx.base}/twilio/recording",
    )


def _context(
    tel: Telephony, params: dict[str, str], base: str, loaded: LoadedFlow | None, tracking: str
) -> Ctx | None:
    if loaded is None:
        return None
    return Ctx(tel, params, base, loaded, tracking, tel.table.options(loaded.advertiser_id))


async def _or_forward(ctx: Ctx, answer: Callable[[], Awaitable[Answer]], plain: Answer) -> Answer:
    """The verbs ``answer()`` works out, or ``plain`` forwarding when the flow breaks or
    takes too long; the call records why."""
    try:
        if ctx.loaded.flow is None:
            raise FlowBroken(ctx.loaded.error or "the flow did not load")
        result: Answer = await asyncio.wait_for(answer(), timeout=ANSWER_BUDGET_S)
        return result
    except Exception as exc:  # whatever it is, the caller is put through
        reason = (
            f"{type(exc).__name__}: {exc}"[:300] if not isinstance(exc, FlowBroken) else str(exc)
        )
        log.warning("call flow of target %s not followed: %s", ctx.loaded.target_id, reason)
        ctx.note("fallback", "fallback", detail=reason[:300])
        return plain


async def start(
    tel: Telephony, params: dict[str, str], base: str, route: Route, plain: Answer
) -> Answer:
    """The first verbs of a new call: its flow's start step when its target has a flow,
    else (or when the flow cannot be followed) ``plain`` forwarding."""
    loaded = None
    if route.site_id is not None:
        loaded = tel.table.flow(
            route.site_id, route.forward_to, number_id=route.number_id, source=route.source_label
        )
    ctx = _context(tel, params, base, loaded, route.number)
    if ctx is None:
        return plain
    ctx.note("start", "start", detail=str(ctx.loaded.version))
    start_step = ctx.loaded.flow.start if ctx.loaded.flow is not None else ""
    return await _or_forward(ctx, lambda: enter(ctx, start_step), plain)


async def resume(
    tel: Telephony, params: dict[str, str], base: str, query: dict[str, str], plain: Answer
) -> Answer:
    """The verbs after a flow callback (``query``: the state in its signed URL);
    ``plain`` forwarding when the flow was removed during the call."""
    target = query.get("t", "")
    scope = query.get("sc", "")[:100]
    loaded = (
        tel.table.flow_of_target(int(target), scope)
        if target.isdigit() and len(target) < 19
        else None
    )
    ctx = _context(tel, params, base, loaded, query.get("tn", "")[:40])
    if ctx is None:
        log.warning("call %s: its flow is gone, forwarding plainly", params.get("CallSid"))
        return plain
    return await _or_forward(ctx, lambda: callback(ctx, query), plain)


# -- entering a step -------------------------------------------------------------------
async def enter(ctx: Ctx, step_id: str, hops: int = 0) -> Answer:
    """The verbs of ``step_id`` from its beginning ('' hangs up)."""
    if not step_id:
        ctx.note("hangup", "hangup")
        ctx.missed("no-answer")
        return (verbs.Hangup(),)
    if hops > MAX_HOPS:
        raise FlowBroken(f"more than {MAX_HOPS} steps without waiting (a loop)")
    flow = ctx.loaded.flow
    if flow is None or step_id not in flow.steps:
        raise FlowBroken(f"the flow has no step {step_id!r}")
    step = flow.step(step_id)
    if step.type == "schedule":
        state = schedule.state(step, now_ms(), ctx.loaded.timezone)
        ctx.note("schedule", "schedule", step.id, detail=state)
        return await enter(ctx, schedule.branch(step, now_ms(), ctx.loaded.timezone), hops + 1)
    if step.type == "message":
        ctx.note("message", "message", step.id)
        return (*_prompts(ctx, step.prompt), *await enter(ctx, step.next, hops + 1))
    if step.type == "sms":
        # Sent once the call has ended (backend.telephony.flowsms): nothing waits here.
        to = "caller" if step.to == ("caller",) else "staff"
        ctx.note(
            "sms", "sms", step.id, detail=to, target=ctx.loaded.target_id, v=ctx.loaded.version
        )
        return await enter(ctx, step.next, hops + 1)
    if step.type == "hangup":
        return await enter(ctx, "", hops)
    if step.type == "ring":
        offset = await _turn(ctx, step) if step.mode == "round_robin" else 0
        return _ring(ctx, step, attempt=0, offset=offset, all_busy=1)
    if step.type == "menu":
        return _menu(ctx, step, retry=0)
    if step.type == "queue":
        ctx.note("queue", "queue", step.id)
        return _enqueue(ctx, step, waited=0)
    if step.type == "voicemail":
        ctx.note("voicemail_prompt", "voicemail_prompt", step.id)
        ctx.missed("no-answer")
        record = verbs.Record(
            action_url=ctx.url(step.id, "recorded"),
            max_length_s=step.max_length_s,
            play_beep=step.beep,
            recording_callback_url=ctx.url(step.id, "vm"),
        )
        return (*_prompts(ctx, step.prompt), record)
    raise FlowBroken(f"step {step.id!r} has an unknown type {step.type!r}")


async def _turn(ctx: Ctx, step: Step) -> int:
    """Where a round-robin ring starts this call: the shared counter, or this process's
    own when storage does not answer in time (the caller is never kept waiting)."""
    # One counter per step of each of the target's flows.
    key = (ctx.loaded.target_id, f"{ctx.loaded.scope}/{step.id}" if ctx.loaded.scope else step.id)
    try:
        turn = await asyncio.wait_for(
            flowstore.next_turn(ctx.tel.table.store(), *key), timeout=TURN_BUDGET_S
        )
    except Exception as exc:  # includes the timeout
        log.warning("round-robin turn of target %s from memory: %s", key[0], exc)
        turn = ctx.tel.table.local_turn(key)
    return (turn - 1) % len(step.destinations)


def _ring(ctx: Ctx, step: Step, *, attempt: int, offset: int, all_busy: int) -> Answer:
    """One attempt of a ring step: everyone at once, or the next destination in turn."""
    dests = step.destinations
    if step.mode == "simultaneous":
        for n, dest in enumerate(dests):
            ctx.note(f"ring:{n}", "ring", step.id, destination=dest.number)
        numbers = tuple(_number(ctx, d, ctx.url(step.id, "leg", n=n)) for n, d in enumerate(dests))
        return (_dial(ctx, numbers, step.timeout_s, ctx.url(step.id, "ring", i=0, o=0, b=1)),)
    dest = dests[(offset + attempt) % len(dests)]
    ctx.note(f"ring:{attempt}", "ring", step.id, destination=dest.number)
    action = ctx.url(step.id, "ring", i=attempt, o=offset, b=all_busy)
    return (_dial(ctx, (_number(ctx, dest),), dest.timeout_s, action),)


def _menu(ctx: Ctx, step: Step, *, retry: int, invalid: bool = False) -> Answer:
    prompt = _prompts(ctx, step.prompt)
    if invalid and step.invalid_prompt:
        prompt = _prompts(ctx, step.invalid_prompt) + prompt
    gather = verbs.Gather(
        ctx.url(step.id, "menu", r=retry),
        prompt=prompt,
        num_digits=1,
        timeout_s=step.timeout_s,
        finish_on_key="" if "#" in step.choices else "#",
        action_on_empty=True,
    )
    return (gather,)


def _enqueue(ctx: Ctx, step: Step, *, waited: int) -> Answer:
    name = f"callpath-{ctx.loaded.target_id}-{step.id}"
    return (
        verbs.Enqueue(
            name,
            wait_url=ctx.url(step.id, "wait", q=waited),
            action_url=ctx.url(step.id, "left", q=waited),
        ),
    )


# -- callbacks ---------------------------------------------------------------------------
def _int(query: dict[str, str], name: str, high: int = 100_000) -> int:
    raw = query.get(name, "0")
    return min(int(raw), high) if raw.isdigit() and len(raw) <= 9 else 0


async def callback(ctx: Ctx, query: dict[str, str]) -> Answer:
    """The verbs after a flow step's callback (``query``: the state in the URL)."""
    flow = ctx.loaded.flow
    step_id = query.get("s", "")
    if flow is None or step_id not in flow.steps:
        raise FlowBroken(f"the flow has no step {step_id!r} any more")
    step = flow.step(step_id)
    phase = query.get("p", "")
    p = ctx.params
    if phase == "ring":
        return await _after_ring(ctx, step, query)
    if phase == "leg":
        dest = step.destinations[_int(query, "n") % len(step.destinations)]
        ctx.note(f"answered:{_int(query, 'n')}", "answered", step.id, destination=dest.number)
        return ()
    if phase == "menu":
        return await _after_menu(ctx, step, _int(query, "r"), (p.get("Digits") or "").strip())
    if phase == "wait":
        session = _int(p, "QueueTime", 7200)
        return _wait(ctx, step, _int(query, "q") + session, session, _int(p, "QueuePosition"))
    if phase in ("left", "qring"):
        return await _after_queue(ctx, step, phase, _int(query, "q"))
    if phase == "recorded":
        return await enter(ctx, step.next) if step.next else (verbs.Hangup(),)
    if phase == "vm":
        if p.get("RecordingStatus", "completed") == "completed" and p.get("RecordingUrl"):
            ctx.note(
                "voicemail",
                "voicemail",
                step.id,
                recording_url=p["RecordingUrl"][:1000],
                recording_sid=p.get("RecordingSid", "")[:64],
                wait_s=_int(p, "RecordingDuration", 3600),
            )
        return ()
    raise FlowBroken(f"unknown phase {phase!r}")


async def _after_ring(ctx: Ctx, step: Step, query: dict[str, str]) -> Answer:
    status = (ctx.params.get("DialCallStatus") or "").strip()
    attempt, offset = _int(query, "i", 100), _int(query, "o", 100)
    dests = step.destinations
    dest = dests[(offset + attempt) % len(dests)]
    who = "" if step.mode == "simultaneous" else dest.number
    if status in ANSWERED:
        if who:
            ctx.note(f"answered:{attempt}", "answered", step.id, destination=who)
        ctx.answered()
        return (verbs.Hangup(),)
    ctx.note(f"{status}:{attempt}", status or "failed", step.id, destination=who)
    all_busy = int(_int(query, "b") == 1 and status == "busy")
    if step.mode != "simultaneous" and attempt + 1 < len(dests):
        return _ring(ctx, step, attempt=attempt + 1, offset=offset, all_busy=all_busy)
    outcome = "busy" if all_busy else "no-answer"
    ctx.missed(outcome)
    return await enter(ctx, step.busy if all_busy and step.busy else step.no_answer)


async def _after_menu(ctx: Ctx, step: Step, retry: int, digits: str) -> Answer:
    if digits in step.choices:
        ctx.note(f"menu:{retry}", "menu", step.id, digits=digits)
        return await enter(ctx, step.choices[digits])
    if retry < step.retries:
        ctx.note(f"retry:{retry}", "menu_retry", step.id, digits=digits[:8])
        return _menu(ctx, step, retry=retry + 1, invalid=bool(digits))
    ctx.note(f"menu:{retry}", "menu", step.id, digits="", detail="default")
    return await enter(ctx, step.default)


def _position(ctx: Ctx, position: int) -> verbs.Say:
    if ctx.options.language.startswith("ja"):
        text = f"ただいま{position}番目にお待ちいただいています。"
    else:
        text = f"You are number {position} in line."
    return verbs.Say(text, ctx.options.language, ctx.options.voice)


def _wait(ctx: Ctx, step: Step, waited: int, session: int, position: int) -> Answer:
    """What a queued caller hears next; ``<Leave>`` at the maximum wait (``waited``: in
    the queue and ringing so far), or to try the destinations again once the first in
    line has waited ``retry_every_s`` since the last try (``session``)."""
    if waited >= step.max_wait_s:
        return (verbs.Leave(),)
    if position <= 1 and session >= step.retry_every_s:
        return (verbs.Leave(),)
    heard: list[verbs.Verb] = list(_prompts(ctx, step.prompt))
    if step.announce_position and position > 0:
        heard.append(_position(ctx, position))
    if step.hold_audio:
        heard.append(verbs.Play(step.hold_audio))
    else:
        heard.append(verbs.Pause(HOLD_PAUSE_S))
    return tuple(heard)


async def _after_queue(ctx: Ctx, step: Step, phase: str, before: int) -> Answer:
    p = ctx.params
    if phase == "left":
        waited = before + _int(p, "QueueTime", 7200)
        result = p.get("QueueResult", "")
        if result == "hangup":
            ctx.note(f"abandoned:{waited}", "queue_left", step.id, detail="hangup", wait_s=waited)
            ctx.missed("no-answer")
            return ()
        if result == "bridged":
            ctx.note(f"bridged:{waited}", "queue_left", step.id, detail="bridged", wait_s=waited)
            return (verbs.Hangup(),)
        if waited >= step.max_wait_s:
            ctx.note(f"timeout:{waited}", "queue_left", step.id, detail="max_wait", wait_s=waited)
            ctx.missed("no-answer")
            return await enter(ctx, step.no_answer)
        numbers = tuple(
            _number(ctx, d, ctx.url(step.id, "leg", n=n)) for n, d in enumerate(step.destinations)
        )
        ctx.note(f"qring:{waited}", "ring", step.id, detail="queue")
        return (_dial(ctx, numbers, step.timeout_s, ctx.url(step.id, "qring", q=waited)),)
    status = (p.get("DialCallStatus") or "").strip()
    if status in ANSWERED:
        ctx.note(f"served:{before}", "queue_left", step.id, detail="answered", wait_s=before)
        ctx.answered()
        return (verbs.Hangup(),)
    rang = step.timeout_s if status == "no-answer" else 0
    return _enqueue(ctx, step, waited=before + rang)
