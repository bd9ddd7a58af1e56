"""Calls worked by hand: a qualification verdict with its reason, tags, a note, an outcome
from the advertiser's list and a value, each change kept in an audit trail (issue #17).

This is what pay-per-call disputes and conversion values rest on, so every change records
who made it, when, and the value before and after (``call_audit``), in the same unit of
work as the change. The site's qualification rules still run when a call completes, but a
verdict set by hand is never overwritten by them (``attribution.qualification``).

Who may work a call is the caller's business (the dashboard and the API check the viewer's
scope and write rights); this module checks the values and that an outcome belongs to the
call's advertiser.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from attribution.errors import FieldError
from pool.store import Row, Store, Tx, fetch_found

NOTE_MAX = 2000
REASON_MAX = 200
TAG_MAX = 40
TAGS_MAX = 20
LABEL_MAX = 60
VALUE_MAX = 10**12  # yen
OUTCOME_KINDS = ("won", "open", "lost")
# The list an advertiser starts with: labels beginning with "@" are the built-in ones,
# shown in the viewer's language (outcome.won: 成約 / Won, and so on).
DEFAULT_OUTCOMES = (("@won", "won"), ("@open", "open"), ("@lost", "lost"))


class WorkError(FieldError):
    """A value a person cannot set on a call; ``field`` names the input."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave as it is", distinct from None ("clear")


@dataclass(frozen=True)
class CallChanges:
    """What a person changes on a call; fields left UNSET are not touched.

    ``qualified``: True / False sets the verdict by hand (``qualified_reason`` required),
    None hands it back to the site's rules. ``outcome_id`` / ``value_yen``: None clears.
    """

    qualified: Any = UNSET
    qualified_reason: Any = UNSET
    tags: Any = UNSET
    note: Any = UNSET
    outcome_id: Any = UNSET
    value_yen: Any = UNSET


@dataclass(frozen=True)
class AuditEntry:
    """One change of one field of a call."""

    at_ms: int
    actor: str
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class CallWork:
    """What people have set on a call."""

    qualified: bool
    qualified_by_hand: bool | None
    qualified_reason: str
    tags: list[str]
    note: str
    outcome_id: int | None
    value_yen: int | None
    audit: list[AuditEntry] = field(default_factory=list)
    # The machine's suggestion, kept beside the outcome people set (issue #22): a
    # transcript rule's or a language model's (``outcome_suggested_by``), with its reason.
    outcome_suggested_id: int | None = None
    outcome_suggested_reason: str = ""
    outcome_suggested_by: str = ""


def _text(field: str, raw: Any, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(raw, str):
        raise WorkError(field, f"{field} must be text")
    value: str = raw.strip().replace("\r\n", "\n")
    if len(value) > limit:
        raise WorkError(field, f"{field} is longer than {limit} characters")
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in allowed for c in value):
        raise WorkError(field, f"{field} has control characters")
    return value


def clean_tags(raw: Any) -> list[str]:
    """Tags as a sorted list without duplicates: a list of text, or one comma-separated
    text; each 1-40 characters, at most 20. WorkError otherwise."""
    if isinstance(raw, str):
        raw = raw.replace("、", ",").split(",")
    if not isinstance(raw, list):
        raise WorkError("tags", "tags must be a list of text")
    tags = sorted({_text("tags", t, TAG_MAX) for t in raw} - {""})
    if len(tags) > TAGS_MAX:
        raise WorkError("tags", f"at most {TAGS_MAX} tags")
    return tags


def _value(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise WorkError("value_yen", "value_yen must be a whole number of yen")
    if isinstance(raw, str):
        raw = raw.replace(",", "").strip()
        if not raw.isascii() or not raw.isdigit():
            raise WorkError("value_yen", "value_yen must be a whole number of yen")
        raw = int(raw)
    if not isinstance(raw, int) or not 0 <= raw <= VALUE_MAX:
        raise WorkError("value_yen", f"value_yen must be from 0 to {VALUE_MAX}")
    return raw


def _shown(value: Any) -> str:
    """A value as the audit trail keeps it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


async def _work_row(db: Store | Tx, call_id: int) -> Row:
    """The call's owner and the columns people work on; LookupError for an unknown call."""
    row = await fetch_found(
        db,
        "SELECT id, advertiser_id, qualified, qualified_by_hand, qualified_reason, note,"
        " outcome_id, value_yen, outcome_suggested_id, outcome_suggested_reason,"
        " outcome_suggested_by FROM calls WHERE id = :c",
        {"c": call_id},
        f"no call {call_id}",
    )
    return row


async def read_work(db: Store | Tx, call_id: int) -> CallWork:
    """What people have set on a call, with its audit trail (newest first); LookupError
    for an unknown call."""
    row = await _work_row(db, call_id)
    tags = [
        r["tag"]
        for r in await db.fetchall(
            "SELECT tag FROM call_tags WHERE call_id = :c ORDER BY tag", {"c": call_id}
        )
    ]
    audit = [
        AuditEntry(int(r["at_ms"]), r["actor"], r["field"], r["before"], r["after"])
        for r in await db.fetchall(
            "SELECT at_ms, actor, field, before, after FROM call_audit WHERE call_id = :c"
            " ORDER BY at_ms DESC, id DESC LIMIT 200",
            {"c": call_id},
        )
    ]
    by_hand = row["qualified_by_hand"]
    return CallWork(
        qualified=bool(row["qualified"]),
        qualified_by_hand=None if by_hand is None else bool(by_hand),
        qualified_reason=row["qualified_reason"],
        tags=tags,
        note=row["note"],
        outcome_id=None if row["outcome_id"] is None else int(row["outcome_id"]),
        value_yen=None if row["value_yen"] is None else int(row["value_yen"]),
        audit=audit,
        outcome_suggested_id=(
            None if row["outcome_suggested_id"] is None else int(row["outcome_suggested_id"])
        ),
        outcome_suggested_reason=row["outcome_suggested_reason"],
        # '' with a suggestion: one made before the column existed, which only rules made
        outcome_suggested_by=row["outcome_suggested_by"]
        or ("rules" if row["outcome_suggested_id"] is not None else ""),
    )


async def work_call(
    tx: Tx, *, call_id: int, changes: CallChanges, actor: str, now_ms: int
) -> list[AuditEntry]:
    """Apply ``changes`` to a call in the unit of work ``tx``; return the audit entries
    written (one per field that changed). WorkError for a bad value, LookupError for an
    unknown call."""
    call = await _work_row(tx, call_id)
    sets: dict[str, Any] = {}
    entries: list[AuditEntry] = []

    def change(name: str, before: Any, after: Any, column: str | None = None) -> bool:
        if before == after:
            return False
        if column is not None:
            sets[column] = after
        entries.append(AuditEntry(now_ms, actor, name, _shown(before), _shown(after)))
        return True

    if changes.qualified is not UNSET:
        if changes.qualified is None:
            # Back to the rules: the rules' verdict returns when the call is qualified again
            # (its stored flag stays until then, so reports do not jump).
            change("qualified_by_hand", call["qualified_by_hand"], None, "qualified_by_hand")
            change("qualified_reason", call["qualified_reason"], "", "qualified_reason")
        else:
            if not isinstance(changes.qualified, bool):
                raise WorkError("qualified", "qualified must be true, false or null")
            reason = _text("qualified_reason", changes.qualified_reason or "", REASON_MAX)
            if not reason:
                raise WorkError("qualified_reason", "say why the call is (not) qualified")
            verdict = int(changes.qualified)
            # Only what differs is written and audited: saving the same verdict again must
            # not touch the call (the live screen follows updated_ms).
            if change("qualified", bool(call["qualified"]), changes.qualified):
                sets["qualified"] = verdict
            change("qualified_by_hand", call["qualified_by_hand"], verdict, "qualified_by_hand")
            change("qualified_reason", call["qualified_reason"], reason, "qualified_reason")
    elif changes.qualified_reason is not UNSET:
        raise WorkError("qualified_reason", "a reason goes with a verdict (qualified)")
    if changes.note is not UNSET:
        change("note", call["note"], _text("note", changes.note, NOTE_MAX, multiline=True), "note")
    if changes.value_yen is not UNSET:
        change("value_yen", call["value_yen"], _value(changes.value_yen), "value_yen")
    if changes.outcome_id is not UNSET:
        outcome = changes.outcome_id
        if outcome is not None:
            if isinstance(outcome, bool) or not isinstance(outcome, int):
                raise WorkError("outcome_id", "outcome_id must be an outcome's id")
            ok = await tx.fetchval(
                "SELECT id FROM call_outcomes WHERE id = :o AND advertiser_id = :a"
                " AND retired_ms IS NULL",
                {"o": outcome, "a": call["advertiser_id"]},
            )
            if ok is None:
                raise WorkError("outcome_id", "no such outcome for this advertiser")
        change("outcome_id", call["outcome_id"], outcome, "outcome_id")
    if changes.tags is not UNSET:
        tags = clean_tags(changes.tags)
        before = [
            r["tag"]
            for r in await tx.fetchall(
                "SELECT tag FROM call_tags WHERE call_id = :c ORDER BY tag", {"c": call_id}
            )
        ]
        if tags != before:
            await tx.execute("DELETE FROM call_tags WHERE call_id = :c", {"c": call_id})
            for tag in tags:
                await tx.execute(
                    "INSERT INTO call_tags (call_id, tag) VALUES (:c, :t)", {"c": call_id, "t": tag}
                )
            change("tags", before, tags)
    if sets:
        assignments = ", ".join(f"{column} = :{column}" for column in sets)
        await tx.execute(
            f"UPDATE calls SET {assignments}, updated_ms = :now WHERE id = :c",
            {**sets, "now": now_ms, "c": call_id},
        )
    for e in entries:
        await tx.execute(
            "INSERT INTO call_audit (call_id, at_ms, actor, field, before, after)"
            " VALUES (:c, :t, :a, :f, :b, :v)",
            {"c": call_id, "t": e.at_ms, "a": e.actor, "f": e.field, "b": e.before, "v": e.after},
        )
    return entries


async def outcomes(db: Store | Tx, advertiser_id: int, *, with_retired: bool = False) -> list[Row]:
    """An advertiser's outcome list in its order (id, label, kind, position, retired_ms)."""
    retired = "" if with_retired else " AND retired_ms IS NULL"
    return await db.fetchall(
        "SELECT id, label, kind, position, retired_ms, value_yen FROM call_outcomes"
        f" WHERE advertiser_id = :a{retired} ORDER BY position, id",
        {"a": advertiser_id},
    )


async def ensure_outcomes(tx: Tx, advertiser_id: int, now_ms: int) -> None:
    """Give an advertiser without any outcome the built-in list (won / open / lost)."""
    if await tx.fetchval(
        "SELECT id FROM call_outcomes WHERE advertiser_id = :a LIMIT 1", {"a": advertiser_id}
    ):
        return
    for position, (label, kind) in enumerate(DEFAULT_OUTCOMES):
        await tx.execute(
            "INSERT INTO call_outcomes (advertiser_id, label, kind, position, created_ms)"
            " VALUES (:a, :l, :k, :p, :t)",
            {"a": advertiser_id, "l": label, "k": kind, "p": position, "t": now_ms},
        )


async def add_outcome(
    tx: Tx,
    *,
    advertiser_id: int,
    label: str,
    kind: str,
    now_ms: int,
    value_yen: int | None = None,
) -> int:
    """Add an outcome (e.g. "NG: 価格", kind ``lost``) at the end of the list; ``value_yen``
    is what a call with it is worth to conversion actions valued by outcome."""
    label = _text("label", label, LABEL_MAX)
    if not label or label.startswith("@"):
        raise WorkError("label", "an outcome needs a name (not starting with @)")
    if kind not in OUTCOME_KINDS:
        raise WorkError("kind", f"kind must be one of {', '.join(OUTCOME_KINDS)}")
    _check_value(value_yen)
    await ensure_outcomes(tx, advertiser_id, now_ms)
    if await tx.fetchval(
        "SELECT id FROM call_outcomes WHERE advertiser_id = :a AND label = :l"
        " AND retired_ms IS NULL",
        {"a": advertiser_id, "l": label},
    ):
        raise WorkError("label", "this outcome is already in the list")
    position = await tx.fetchval(
        "SELECT COALESCE(MAX(position), -1) + 1 FROM call_outcomes WHERE advertiser_id = :a",
        {"a": advertiser_id},
    )
    return int(
        await tx.fetchval(
            "INSERT INTO call_outcomes (advertiser_id, label, kind, position, created_ms,"
            " value_yen) VALUES (:a, :l, :k, :p, :t, :v) RETURNING id",
            {
                "a": advertiser_id,
                "l": label,
                "k": kind,
                "p": position,
                "t": now_ms,
                "v": value_yen,
            },
        )
    )


def _check_value(value_yen: Any) -> None:
    if value_yen is not None and (
        isinstance(value_yen, bool)
        or not isinstance(value_yen, int)
        or not 0 <= value_yen <= VALUE_MAX
    ):
        raise WorkError("value_yen", f"value_yen must be a whole number from 0 to {VALUE_MAX}")


async def set_outcome_value(
    tx: Tx, *, advertiser_id: int, outcome_id: int, value_yen: int | None
) -> bool:
    """Set what an outcome is worth (None: nothing); False when the advertiser has no such
    outcome."""
    _check_value(value_yen)
    changed = await tx.execute(
        "UPDATE call_outcomes SET value_yen = :v WHERE id = :o AND advertiser_id = :a",
        {"v": value_yen, "o": outcome_id, "a": advertiser_id},
    )
    return bool(changed)


async def retire_outcome(tx: Tx, *, advertiser_id: int, outcome_id: int, now_ms: int) -> bool:
    """Take an outcome off the list (calls that have it keep it); False if not found."""
    done = await tx.fetchval(
        "UPDATE call_outcomes SET retired_ms = :t WHERE id = :o AND advertiser_id = :a"
        " AND retired_ms IS NULL RETURNING id",
        {"t": now_ms, "o": outcome_id, "a": advertiser_id},
    )
    return done is not None


async def caller_history(
    db: Store, *, call_id: int, advertiser_id: int, caller: str, limit: int = 20
) -> list[Row]:
    """The caller's other calls to the same advertiser, newest first (none for an anonymous
    or withheld caller, who is not one person)."""
    if not caller.startswith("+") or not caller[1:].isdigit():
        return []
    return await db.fetchall(
        "SELECT c.id, c.started_ms, c.status, c.talk_s, c.qualified, c.outcome_id,"
        " c.touch_source AS source, c.touch_keyword AS keyword FROM calls c"
        " WHERE c.advertiser_id = :a AND c.caller = :n AND c.id <> :c"
        f" ORDER BY c.started_ms DESC, c.id DESC LIMIT {int(limit)}",
        {"a": advertiser_id, "n": caller, "c": call_id},
    )
