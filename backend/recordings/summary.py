"""Summaries and suggested outcomes by a language model (``CALLPATH_SUMMARY_ENGINE=openai``).

Once a recording's transcript is kept, its summary job is queued (``recordings.summary_*``,
durable and retried like the others: :mod:`backend.recordings.jobs`). :func:`summarise_one`
sends the provider the **masked** transcript lines as stored (numbers already
``[number]``), who said each (caller / business on two channels), the language the
transcription heard and the advertiser's outcome list in force (id, name, kind), as one
``POST {CALLPATH_SUMMARY_API_URL}/chat/completions`` asking for a JSON object
(``response_format: json_object``, temperature 0):
``{"language", "summary", "outcome_id", "reason"}`` — a summary in the call's language,
the one outcome of the list that fits (or null) and why.

The answer is checked: a body that is not such an object (no ``choices``, content that is
not JSON, no summary) fails the try and the job is retried later; an ``outcome_id`` not in
the list is dropped (the summary is kept). Summary and reason are masked again before they
are stored. The model's pick is always kept on the recording (``summary_outcome_id``,
``summary_reason``); it becomes the call's suggested outcome unless a transcript rule made
that one, and the call's outcome only while nobody has set one
(:func:`attribution.transcripts.apply_model_suggestion`): a person's choice always wins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from attribution import call_work, transcripts
from backend.recordings import jobs
from backend.recordings.providers import ProviderError, endpoint, post
from pool.store import Store, now_ms

log = logging.getLogger("callpath.recordings")
TRANSCRIPT_MAX = 60_000  # characters of transcript sent; a longer call is cut (and said so)
SUMMARY_MAX = 2000
REASON_MAX = 300
LANGUAGE_MAX = 16
BUILT_IN = {"@won": "won (成約)", "@open": "open, a prospect (見込み)", "@lost": "lost (不成立)"}
SPEAKERS = {0: "Caller", 1: "Business"}

INSTRUCTIONS = (
    "You read the transcript of a phone call to a business and report on it for that"
    " business. Answer with one JSON object and nothing else, with these keys:"
    ' "language": the ISO 639-1 code of the language the call was held in;'
    ' "summary": what the call was about and how it ended, in 1 to 5 sentences, written in'
    " the call's language;"
    ' "outcome_id": the id of the one outcome in the given list that fits the call, or null'
    " when none does;"
    ' "reason": one sentence, in the call\'s language, saying why that outcome (or none).'
    " [number] marks a number that was masked: never guess it, never write any card or"
    " phone number."
)


@dataclass(frozen=True)
class Summary:
    """What the model said about one call."""

    language: str
    text: str
    outcome_id: int | None
    reason: str


def outcome_choices(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The advertiser's outcomes in force as the model is shown them."""
    return [
        {"id": int(r["id"]), "name": BUILT_IN.get(r["label"], r["label"]), "kind": r["kind"]}
        for r in rows
        if r["retired_ms"] is None
    ]


def transcript_text(lines: Sequence[Any], channels: int) -> str:
    """The lines as ``[m:ss] Speaker: text``, cut at :data:`TRANSCRIPT_MAX` characters."""
    out: list[str] = []
    size = 0
    for x in lines:
        s = int(x["start_ms"]) // 1000
        who = f" {SPEAKERS.get(int(x['channel']), 'Speaker')}:" if channels > 1 else ""
        line = f"[{s // 60}:{s % 60:02d}]{who} {x['text']}"
        if size + len(line) > TRANSCRIPT_MAX:
            out.append("[the rest of the call is left out]")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def read_answer(answer: dict[str, Any], outcomes: Sequence[dict[str, Any]]) -> Summary:
    """The summary in a chat completion; ProviderError when it holds none."""
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError("the answer has no choices[0].message.content") from exc
    if not isinstance(content, str):
        raise ProviderError("the answer's content is not text")
    content = content.strip()
    if content.startswith("```"):  # some models fence the object even when asked not to
        content = content.strip("`").removeprefix("json").strip()
    try:
        said = json.loads(content)
    except ValueError as exc:
        raise ProviderError("the answer's content is not a JSON object") from exc
    if not isinstance(said, dict):
        raise ProviderError("the answer's content is not a JSON object")
    text = said.get("summary")
    if not isinstance(text, str) or not text.strip():
        raise ProviderError("the answer has no summary")
    language = said.get("language")
    language = language.strip().lower()[:LANGUAGE_MAX] if isinstance(language, str) else ""
    reason = said.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    outcome = said.get("outcome_id")
    known = {o["id"] for o in outcomes}
    if isinstance(outcome, str) and outcome.strip().isdigit():
        outcome = int(outcome.strip())
    if isinstance(outcome, bool) or not isinstance(outcome, int) or outcome not in known:
        outcome = None  # none, or not one of the list: no suggestion, the summary is kept
    return Summary(
        language=language,
        text=transcripts.mask_numbers(text.strip())[:SUMMARY_MAX],
        outcome_id=outcome,
        reason=transcripts.mask_numbers(reason)[:REASON_MAX],
    )


class ChatSummariser:
    """An OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        model: str,
        timeout_s: float = 60.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = endpoint(base_url, "chat/completions")
        self.api_key = api_key
        self.model = model
        self.timeout_s = timeout_s
        self.client = client or httpx.AsyncClient()

    @property
    def name(self) -> str:
        """What the recording keeps as the summary's author."""
        return self.model

    async def summarise(
        self,
        lines: Sequence[Any],
        channels: int,
        outcomes: Sequence[dict[str, Any]],
        language_heard: str,
    ) -> Summary:
        """Ask the model about one call's masked transcript."""
        question = {
            "language_heard": language_heard or "unknown",
            "outcomes": list(outcomes),
            "transcript": transcript_text(lines, channels),
        }
        answer = await post(
            self.client,
            self.url,
            api_key=self.api_key,
            timeout_s=self.timeout_s,
            json={
                "model": self.model,
                "messages": [
                    {"role": "system", "content": INSTRUCTIONS},
                    {"role": "user", "content": json.dumps(question, ensure_ascii=False)},
                ],
                "temperature": 0,
                "response_format": {"type": "json_object"},
            },
        )
        return read_answer(answer, outcomes)


async def summarise_one(
    db: Store, summariser: ChatSummariser, *, attempts: int, now: int | None = None
) -> bool | None:
    """Summarise the next transcript due: True done, False failed this try, None none due."""
    now = now_ms() if now is None else now
    row = await jobs.claim(db, jobs.SUMMARISE, now)
    if row is None:
        return None
    try:
        lines = await db.fetchall(
            "SELECT channel, start_ms, text FROM transcript_lines WHERE recording_id = :r"
            " ORDER BY start_ms, channel, id",
            {"r": row["id"]},
        )
        advertiser = await db.fetchval(
            "SELECT advertiser_id FROM calls WHERE id = :c", {"c": row["call_id"]}
        )
        outcomes = outcome_choices(
            await call_work.outcomes(db, int(advertiser)) if advertiser is not None else []
        )
        found = await summariser.summarise(
            lines, int(row["channels"]) or 1, outcomes, row["transcript_language"]
        )
    except Exception as exc:  # retried later; the reason is kept on the row
        log.warning("recording %s: summary failed: %s", row["id"], exc)
        await jobs.failed(db, jobs.SUMMARISE, row, str(exc) or type(exc).__name__, now=now,
                          attempts=attempts)  # fmt: skip
        return False
    async with db.write() as tx:
        state = await tx.fetchval(
            "SELECT summary_status FROM recordings WHERE id = :id", {"id": row["id"]}
        )
        if state != jobs.SUMMARISE.working:
            return True  # its claim lapsed and another worker has it
        await tx.execute(
            "UPDATE recordings SET summary_status = 'done', summary_error = '',"
            " summary_text = :s, summary_language = :lang, summary_outcome_id = :o,"
            " summary_reason = :why, summary_model = :m, summarised_ms = :t,"
            " claimed_until_ms = 0 WHERE id = :id",
            {"s": found.text, "lang": found.language, "o": found.outcome_id,
             "why": found.reason, "m": summariser.name[:100], "t": now, "id": row["id"]},
        )  # fmt: skip
        if found.outcome_id is not None:
            await transcripts.apply_model_suggestion(
                tx,
                call_id=row["call_id"],
                outcome_id=found.outcome_id,
                reason=found.reason,
                now_ms=now,
            )
    return True
