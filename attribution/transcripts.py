"""What a call's transcript is used for: masking, normalising, phrase rules and search.

- :func:`mask_numbers`: a run of six or more digits (spoken as digits or as English digit
  words, with spaces or hyphens between them) is replaced by ``[number]`` before a line is
  stored: card and phone numbers said in a call never reach storage (docs/privacy.md).
- :func:`normalise`: NFKC (full-width / half-width folded: ＡＢＣ１２３ → abc123, ｶﾅ → カナ),
  case folded, katakana folded to hiragana (予約 キャンセル = 予約 きゃんせる), spaces
  collapsed. Rules and search compare normalised text only.
- :func:`grams`: the character bigrams the call log's search index holds (Japanese has no
  spaces between words; bigrams find any substring of two characters or more).
- :func:`apply_rules`: an advertiser's phrases (``transcript_rules``) that suggest an
  outcome and add tags. The suggestion is always kept (``calls.outcome_suggested_id``);
  the call's outcome is filled only while no one has set it, so a person's choice always
  wins, and every change is in the call's audit trail under the actor ``rules``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from attribution.call_work import UNSET, CallChanges, work_call
from pool.store import Store, Tx

PHRASE_MAX = 100
MASK = "[number]"
MASK_MIN_DIGITS = 6
_DIGIT_WORDS = "zero|oh|one|two|three|four|five|six|seven|eight|nine"
_DIGIT = rf"(?:[0-9]|\b(?:{_DIGIT_WORDS})\b)"
_RUN = re.compile(rf"{_DIGIT}(?:[\s\-]*{_DIGIT})*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# Katakana ァ..ヶ sit 0x60 above their hiragana ぁ..ゖ.
_KANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
RULES_ACTOR = "rules"


def mask_numbers(text: str) -> str:
    """``text`` with every run of :data:`MASK_MIN_DIGITS` digits or more replaced."""

    def hide(m: re.Match[str]) -> str:
        digits = len(re.findall(_DIGIT, m.group(0), re.IGNORECASE))
        return MASK if digits >= MASK_MIN_DIGITS else m.group(0)

    return _RUN.sub(hide, unicodedata.normalize("NFKC", text))


def normalise(text: str) -> str:
    """Text as rules and search compare it (width, case and kana folded, spaces collapsed)."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_KANA)
    return _SPACES.sub(" ", folded).strip()


def grams(normalised: str) -> set[str]:
    """The character bigrams of normalised text (a single character is its own gram)."""
    if len(normalised) < 2:
        return {normalised} if normalised.strip() else set()
    return {normalised[i : i + 2] for i in range(len(normalised) - 1)} - {"  "}


@dataclass(frozen=True)
class RuleHit:
    """A rule whose phrase the transcript holds."""

    rule_id: int
    phrase: str
    outcome_id: int | None
    tag: str


def matching_rules(rules: Iterable[dict[str, object]], normalised: str) -> list[RuleHit]:
    """The rules (rows of ``transcript_rules``, in their order) whose phrase is in the text."""
    hits = []
    for r in rules:
        phrase = normalise(str(r["phrase"]))
        if phrase and phrase in normalised:
            outcome = r["outcome_id"]
            hits.append(
                RuleHit(
                    int(r["id"]),  # type: ignore[call-overload]
                    str(r["phrase"]),
                    None if outcome is None else int(outcome),  # type: ignore[call-overload]
                    str(r["tag"] or ""),
                )
            )
    return hits


async def store_transcript(
    tx: Tx, *, call_id: int, advertiser_id: int | None, texts: Sequence[str], now_ms: int
) -> str:
    """Index a call's transcript for search (replacing its earlier one); its normalised
    text."""
    text = normalise(" ".join(texts))
    await tx.execute("DELETE FROM transcript_grams WHERE call_id = :c", {"c": call_id})
    await tx.execute("DELETE FROM call_transcripts WHERE call_id = :c", {"c": call_id})
    await tx.execute(
        "INSERT INTO call_transcripts (call_id, advertiser_id, normalised, updated_ms)"
        " VALUES (:c, :a, :n, :t)",
        {"c": call_id, "a": advertiser_id, "n": text, "t": now_ms},
    )
    await tx.executemany(
        "INSERT INTO transcript_grams (gram, call_id) VALUES (:g, :c)",
        [{"g": g, "c": call_id} for g in sorted(grams(text))],
    )
    return text


async def apply_rules(tx: Tx, *, call_id: int, normalised: str, now_ms: int) -> list[RuleHit]:
    """Run the call's advertiser's rules on its transcript (see the module's docstring)."""
    call = await tx.fetchone(
        "SELECT advertiser_id, outcome_id FROM calls WHERE id = :c", {"c": call_id}
    )
    if call is None or call["advertiser_id"] is None:
        return []
    rules = await tx.fetchall(
        "SELECT r.id, r.phrase, r.outcome_id, r.tag FROM transcript_rules r"
        " LEFT JOIN call_outcomes o ON o.id = r.outcome_id"
        " WHERE r.advertiser_id = :a AND r.retired_ms IS NULL AND o.retired_ms IS NULL"
        " ORDER BY r.position, r.id",
        {"a": call["advertiser_id"]},
    )
    hits = matching_rules([dict(r) for r in rules], normalised)
    suggested = next((h for h in hits if h.outcome_id is not None), None)
    if suggested is not None:
        await tx.execute(
            "UPDATE calls SET outcome_suggested_id = :o, outcome_suggested_reason = :why"
            " WHERE id = :c",
            {"o": suggested.outcome_id, "why": f"“{suggested.phrase}”", "c": call_id},
        )
    tags = {h.tag for h in hits if h.tag}
    if suggested is None and not tags:
        return hits
    before = [
        r["tag"]
        for r in await tx.fetchall("SELECT tag FROM call_tags WHERE call_id = :c", {"c": call_id})
    ]
    await work_call(
        tx,
        call_id=call_id,
        changes=CallChanges(
            # Only an empty outcome is filled: a person's choice is never overwritten.
            outcome_id=(
                suggested.outcome_id
                if suggested is not None and call["outcome_id"] is None
                else UNSET
            ),
            tags=sorted(set(before) | tags) if tags - set(before) else UNSET,
        ),
        actor=RULES_ACTOR,
        now_ms=now_ms,
    )
    return hits


def search_condition(query: str, alias: str = "c") -> tuple[str, dict[str, object]]:
    """An SQL condition (and its parameters) on ``{alias}.id``: calls whose transcript
    holds ``query`` (normalised). The bigram index narrows, ``LIKE`` confirms the phrase."""
    text = normalise(query)[:PHRASE_MAX]
    wanted = sorted(grams(text))
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    params: dict[str, object] = {"tq_like": f"%{escaped}%", "tq_n": len(wanted)}
    narrowed = ""
    if wanted:
        names = []
        for i, g in enumerate(wanted):
            params[f"tq_g{i}"] = g
            names.append(f":tq_g{i}")
        narrowed = (
            " AND t.call_id IN (SELECT call_id FROM transcript_grams"
            f" WHERE gram IN ({', '.join(names)}) GROUP BY call_id HAVING COUNT(*) = :tq_n)"
        )
    sql = (
        f"{alias}.id IN (SELECT t.call_id FROM call_transcripts t"
        f" WHERE t.normalised LIKE :tq_like ESCAPE '!'{narrowed})"
    )
    return sql, params


async def search_calls(db: Store, query: str) -> list[int]:
    """Ids of calls whose transcript holds ``query`` (unscoped: callers add their scope)."""
    sql, params = search_condition(query)
    rows = await db.fetchall(f"SELECT c.id FROM calls c WHERE {sql} ORDER BY c.id", params)
    return [int(r["id"]) for r in rows]
