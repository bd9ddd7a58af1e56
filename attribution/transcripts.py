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

from attribution.call_work import TAG_MAX, UNSET, CallChanges, work_call
from attribution.errors import FieldError
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


class RuleError(FieldError):
    """A rule that cannot be kept; ``field`` names the input."""


async def rules(db: Store | Tx, advertiser_id: int) -> list[dict[str, object]]:
    """The advertiser's rules in force, in their order."""
    rows = await db.fetchall(
        "SELECT id, phrase, outcome_id, tag, position, created_ms FROM transcript_rules"
        " WHERE advertiser_id = :a AND retired_ms IS NULL ORDER BY position, id",
        {"a": advertiser_id},
    )
    return [dict(r) for r in rows]


async def add_rule(
    tx: Tx, *, advertiser_id: int, phrase: object, outcome_id: object, tag: object, now_ms: int
) -> int:
    """A new rule at the end of the list: a phrase (1-100 characters once normalised) with an
    outcome of the advertiser's list, a tag (1-40 characters), or both. RuleError else."""
    if not isinstance(phrase, str) or not 0 < len(normalise(phrase)) <= PHRASE_MAX:
        raise RuleError("phrase", f"a phrase has 1 to {PHRASE_MAX} characters")
    if not isinstance(tag, str) or len(tag.strip()) > TAG_MAX:
        raise RuleError("tag", f"a tag has at most {TAG_MAX} characters")
    if outcome_id is not None:
        if isinstance(outcome_id, bool) or not isinstance(outcome_id, int):
            raise RuleError("outcome_id", "outcome_id must be an outcome's id")
        if not await tx.fetchval(
            "SELECT id FROM call_outcomes WHERE id = :o AND advertiser_id = :a"
            " AND retired_ms IS NULL",
            {"o": outcome_id, "a": advertiser_id},
        ):
            raise RuleError("outcome_id", "no such outcome for this advertiser")
    if outcome_id is None and not tag.strip():
        raise RuleError("outcome_id", "a rule sets an outcome, a tag or both")
    position = await tx.fetchval(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM transcript_rules WHERE advertiser_id = :a",
        {"a": advertiser_id},
    )
    rule_id: int = await tx.fetchval(
        "INSERT INTO transcript_rules (advertiser_id, phrase, outcome_id, tag, position,"
        " created_ms) VALUES (:a, :p, :o, :t, :pos, :now) RETURNING id",
        {"a": advertiser_id, "p": phrase.strip(), "o": outcome_id, "t": tag.strip(),
         "pos": position, "now": now_ms},
    )  # fmt: skip
    return int(rule_id)


async def retire_rule(tx: Tx, *, advertiser_id: int, rule_id: int, now_ms: int) -> bool:
    """Stop a rule (calls it already marked keep their outcome and tags); False if none."""
    changed = await tx.execute(
        "UPDATE transcript_rules SET retired_ms = :t WHERE id = :r AND advertiser_id = :a"
        " AND retired_ms IS NULL",
        {"t": now_ms, "r": rule_id, "a": advertiser_id},
    )
    return bool(changed)
