"""What a call's transcript is used for: masking, normalising, phrase rules and search.

- :func:`mask_numbers`: a run of six or more digits (spoken as digits or as English digit
  words, with spaces or hyphens between them) is replaced by ``[number]`` before a line is
  stored: card and phone numbers said in a call never reach storage (docs/privacy.md).
- :func:`normalise`: NFKC (full-width / half-width folded: ＡＢＣ１２３ → abc123, ｶﾅ → カナ),
  case folded, katakana folded to hiragana (予約 キャンセル = 予約 きゃんせる), spaces
  collapsed. Rules and search compare normalised text only.
- :func:`grams` / :func:`gram_tokens`: the character bigrams the search index holds
  (Japanese has no spaces between words; bigrams find any substring of two characters or
  more), written as hex words that both stores' full-text indexes take as they are.
- :func:`search_condition`: the calls whose transcript holds a phrase, through the store's
  own full-text index (SQLite FTS5 ``transcript_fts``, PostgreSQL a GIN text-search index;
  migration 0041), the phrase then confirmed on the normalised text.
- :func:`apply_rules`: an advertiser's phrases (``transcript_rules``) that suggest an
  outcome and add tags. The suggestion is always kept (``calls.outcome_suggested_id``);
  the call's outcome is filled only while no one has set it, so a person's choice always
  wins, and every change is in the call's audit trail under the actor ``rules``.
- :func:`apply_model_suggestion`: the same for a language model's suggestion (actor
  ``model``), which takes the suggestion's place unless a rule made it: an advertiser's
  own phrase is the more deliberate word. ``calls.outcome_suggested_by`` says whose it is.
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
MODEL_ACTOR = "model"


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


def gram_tokens(normalised: str) -> list[str]:
    """The bigrams as the index's words: each the hex of its UTF-8 bytes (予約 →
    ``e4ba88e7b484``), in order. Migration 0041 writes the same words in SQL."""
    return sorted(g.encode().hex() for g in grams(normalised))


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
    text. Numbers are masked here too, whoever masked the lines: a number said in a call
    is never in the index, so no search finds a call by it."""
    text = normalise(" ".join(mask_numbers(t) for t in texts))
    # The store's full-text index follows this row by itself (SQLite: triggers on
    # call_transcripts; PostgreSQL: an index on the column).
    await tx.execute("DELETE FROM call_transcripts WHERE call_id = :c", {"c": call_id})
    await tx.execute(
        "INSERT INTO call_transcripts (call_id, advertiser_id, normalised, grams, updated_ms)"
        " VALUES (:c, :a, :n, :g, :t)",
        {"c": call_id, "a": advertiser_id, "n": text, "g": " ".join(gram_tokens(text)),
         "t": now_ms},
    )  # fmt: skip
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
            "UPDATE calls SET outcome_suggested_id = :o, outcome_suggested_reason = :why,"
            " outcome_suggested_by = :by WHERE id = :c",
            {"o": suggested.outcome_id, "why": f"“{suggested.phrase}”", "by": RULES_ACTOR,
             "c": call_id},
        )  # fmt: skip
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


async def apply_model_suggestion(
    tx: Tx, *, call_id: int, outcome_id: int, reason: str, now_ms: int
) -> bool:
    """A language model's suggested outcome for a call (one of its advertiser's outcomes in
    force; the caller checked). It becomes the call's suggestion unless a rule made that,
    and the call's outcome while nobody has set one (audited under ``model``). Whether it
    became the suggestion."""
    call = await tx.fetchone(
        "SELECT outcome_id, outcome_suggested_id, outcome_suggested_by FROM calls WHERE id = :c",
        {"c": call_id},
    )
    if call is None:
        return False
    by = call["outcome_suggested_by"]
    if not by and call["outcome_suggested_id"] is not None:
        by = RULES_ACTOR  # a suggestion made before the column existed: only rules made one
    if by == RULES_ACTOR:
        return False
    await tx.execute(
        "UPDATE calls SET outcome_suggested_id = :o, outcome_suggested_reason = :why,"
        " outcome_suggested_by = :by WHERE id = :c",
        {"o": outcome_id, "why": reason, "by": MODEL_ACTOR, "c": call_id},
    )
    if call["outcome_id"] is None:
        # Only an empty outcome is filled: a person's choice is never overwritten.
        await work_call(
            tx,
            call_id=call_id,
            changes=CallChanges(outcome_id=outcome_id),
            actor=MODEL_ACTOR,
            now_ms=now_ms,
        )
    return True


def search_condition(query: str, dialect: str, alias: str = "c") -> tuple[str, dict[str, object]]:
    """An SQL condition (and its parameters) on ``{alias}.id``: calls whose transcript
    holds ``query`` (normalised). The store's full-text index (``dialect``: ``sqlite`` or
    ``postgresql``) narrows to the transcripts holding every bigram, ``LIKE`` confirms the
    phrase; a phrase of one character is looked for by ``LIKE`` alone."""
    text = normalise(query)[:PHRASE_MAX]
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    params: dict[str, object] = {"tq_like": f"%{escaped}%"}
    narrowed = ""
    tokens = gram_tokens(text) if len(text) >= 2 else []
    if tokens and dialect == "sqlite":
        params["tq_match"] = " ".join(f'"{t}"' for t in tokens)
        narrowed = (
            " AND t.call_id IN (SELECT rowid FROM transcript_fts"
            " WHERE transcript_fts MATCH :tq_match)"
        )
    elif tokens and dialect == "postgresql":
        params["tq_match"] = " & ".join(tokens)
        narrowed = (
            " AND array_to_tsvector(string_to_array(t.grams, ' '))"
            " @@ CAST(CAST(:tq_match AS TEXT) AS tsquery)"
        )
    elif tokens:
        raise ValueError(f"no transcript search for the dialect {dialect!r}")
    sql = (
        f"{alias}.id IN (SELECT t.call_id FROM call_transcripts t"
        f" WHERE t.normalised LIKE :tq_like ESCAPE '!'{narrowed})"
    )
    return sql, params


async def search_calls(db: Store, query: str) -> list[int]:
    """Ids of calls whose transcript holds ``query`` (unscoped: callers add their scope)."""
    sql, params = search_condition(query, db.dialect)
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


async def _checked_rule(
    tx: Tx, advertiser_id: int, phrase: object, outcome_id: object, tag: object
) -> tuple[str, int | None, str]:
    """A rule's phrase, outcome and tag as kept; RuleError naming the field else."""
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
    return phrase.strip(), outcome_id, tag.strip()


async def add_rule(
    tx: Tx, *, advertiser_id: int, phrase: object, outcome_id: object, tag: object, now_ms: int
) -> int:
    """A new rule at the end of the list: a phrase (1-100 characters once normalised) with an
    outcome of the advertiser's list, a tag (1-40 characters), or both. RuleError else."""
    kept = await _checked_rule(tx, advertiser_id, phrase, outcome_id, tag)
    position = await tx.fetchval(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM transcript_rules WHERE advertiser_id = :a",
        {"a": advertiser_id},
    )
    rule_id: int = await tx.fetchval(
        "INSERT INTO transcript_rules (advertiser_id, phrase, outcome_id, tag, position,"
        " created_ms) VALUES (:a, :p, :o, :t, :pos, :now) RETURNING id",
        {"a": advertiser_id, "p": kept[0], "o": kept[1], "t": kept[2],
         "pos": position, "now": now_ms},
    )  # fmt: skip
    return int(rule_id)


async def edit_rule(
    tx: Tx, *, advertiser_id: int, rule_id: int, phrase: object, outcome_id: object, tag: object
) -> bool:
    """Change a rule in force (checked as :func:`add_rule` checks; its place in the list
    stays): transcripts made from now on follow it. False if the advertiser has no such
    rule in force."""
    kept = await _checked_rule(tx, advertiser_id, phrase, outcome_id, tag)
    changed = await tx.execute(
        "UPDATE transcript_rules SET phrase = :p, outcome_id = :o, tag = :t"
        " WHERE id = :r AND advertiser_id = :a AND retired_ms IS NULL",
        {"p": kept[0], "o": kept[1], "t": kept[2], "r": rule_id, "a": advertiser_id},
    )
    return bool(changed)


async def retire_rule(tx: Tx, *, advertiser_id: int, rule_id: int, now_ms: int) -> bool:
    """Stop a rule (calls it already marked keep their outcome and tags); False if none."""
    changed = await tx.execute(
        "UPDATE transcript_rules SET retired_ms = :t WHERE id = :r AND advertiser_id = :a"
        " AND retired_ms IS NULL",
        {"t": now_ms, "r": rule_id, "a": advertiser_id},
    )
    return bool(changed)
