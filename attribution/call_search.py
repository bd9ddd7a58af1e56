"""Which calls a call list shows: status, qualification, source, tag, outcome, caller, a
free-text search (issue #17) and what was said in the call (its transcript, issue #22).

The dashboard's call log, its "download these calls" link (the path export) and
``GET /api/calls`` read the same :class:`CallQuery` and render it with
:func:`query_clause`, so a filter means the same thing everywhere. What a person typed is
checked and normalised once, by :func:`parse_query`: a caller number in any format
(``03-1234-5678``, ``+81 3 1234 5678``, ``０３１２３４５６７８``) becomes its E.164 form through
libphonenumber, the way numbers are stored; a search that is only a few digits
(``5678``) finds callers whose number holds them.

The search text finds a call by its caller's number (when the reader may see callers), by
the keyword of the touch that led to it, or by the note people wrote on it (case-blind for
Latin letters; ``%`` and ``_`` are plain characters).

"Said" finds the calls whose transcript holds a phrase (normalised: width, case and kana
folded; ``attribution.transcripts``) through the store's full-text index, so
:func:`query_clause` takes the store's dialect.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from attribution import transcripts
from attribution.errors import FieldError
from pool.numbers import NumberError, to_e164

# answered: someone picked up; missed: it ended unanswered (busy, no answer, failed,
# hung up while ringing); ongoing: still ringing or talking; blocked: refused by a rule.
STATUSES = ("answered", "missed", "ongoing", "blocked")
# yes / no: the call counts as qualified or not, whoever decided; hand: a person decided.
QUALIFIED = ("yes", "no", "hand")
TEXT_MAX = 100  # characters of a search, a source, a tag or an outcome label
_LIVE = "('ringing', 'in-progress')"
_ENDED = "('ringing', 'in-progress', 'blocked')"
_STATUS_SQL = {
    "answered": "{a}.answered_ms IS NOT NULL",
    "missed": f"{{a}}.answered_ms IS NULL AND {{a}}.status NOT IN {_ENDED}",
    "ongoing": f"{{a}}.answered_ms IS NULL AND {{a}}.status IN {_LIVE}",
    "blocked": "{a}.answered_ms IS NULL AND {a}.status = 'blocked'",
}
_DIGITS_ONLY = re.compile(r"[0-9+\-().\s]+")
MIN_DIGITS = 4  # fewer digits than this in a search are not a number search


class QueryError(FieldError):
    """A filter value that cannot be used; ``field`` names the parameter."""


@dataclass(frozen=True)
class CallQuery:
    """Checked filters of a call list (None or '': not filtered on)."""

    status: str | None = None
    qualified: bool | None = None
    by_hand: bool | None = None  # True: verdicts set by a person; False: the rules'
    source: str | None = None  # the frozen touch's source ('' : calls without one)
    tag: str | None = None
    outcome_id: int | None = None
    outcome: str | None = None  # an outcome label, across the advertisers read
    caller: str | None = None  # E.164
    text: str = ""  # the search as typed (normalised: NFKC, trimmed)
    number: str | None = None  # the search read as a whole number (E.164)
    digits: str | None = None  # the search read as part of a number (digits only)
    said: str = ""  # a phrase of the call's transcript (normalised)

    @property
    def is_empty(self) -> bool:
        """Whether nothing is filtered on."""
        return self == CallQuery()

    def without_numbers(self) -> CallQuery:
        """The query for a reader who may not see callers: no caller filter, and the
        search looks at keywords and notes only (a number search would tell them who
        called)."""
        return replace(self, caller=None, number=None, digits=None)


def _text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = unicodedata.normalize("NFKC", value).strip()
    if len(value) > TEXT_MAX:
        raise QueryError(field, f"{field} is longer than {TEXT_MAX} characters")
    return value


def caller_number(text: str, region: str = "JP") -> str:
    """A caller number typed in any format, as E.164 (QueryError when it is not one)."""
    try:
        return to_e164(unicodedata.normalize("NFKC", text).strip(), region)
    except NumberError as exc:
        raise QueryError("caller", f"not a phone number: {text[:40]!r}") from exc


def parse_query(
    *,
    status: str | None = None,
    qualified: str | None = None,
    source: str | None = None,
    tag: str | None = None,
    outcome_id: int | None = None,
    outcome: str | None = None,
    caller: str | None = None,
    search: str | None = None,
    said: str | None = None,
    region: str = "JP",
) -> CallQuery:
    """The checked query of what a person asked for (QueryError naming the bad field).

    ``qualified`` is ``yes``, ``no`` or ``hand``; empty values mean "any". ``region`` reads
    national numbers (``03-…`` is Tokyo for JP).
    """
    if status and status not in STATUSES:
        raise QueryError("status", f"status must be one of {', '.join(STATUSES)}")
    if qualified and qualified not in QUALIFIED:
        raise QueryError("qualified", f"qualified must be one of {', '.join(QUALIFIED)}")
    text = _text(search, "q") or ""
    phrase = transcripts.normalise(_text(said, "said") or "")
    number = digits = None
    if text and _DIGITS_ONLY.fullmatch(text):
        only = re.sub(r"\D", "", text)
        try:
            number = to_e164(text, region)
        except NumberError:
            # Part of a number: national digits lose their trunk 0 in E.164 (03… → +813…).
            part = only[1:] if only.startswith("0") and not only.startswith("00") else only
            digits = part if len(part) >= MIN_DIGITS else None
    return CallQuery(
        status=status or None,
        qualified={"yes": True, "no": False}.get(qualified or ""),
        by_hand=True if qualified == "hand" else None,
        source=_text(source, "source"),
        tag=_text(tag, "tag") or None,
        outcome_id=outcome_id,
        outcome=_text(outcome, "outcome") or None,
        caller=caller_number(caller, region) if caller else None,
        text=text,
        number=number,
        digits=digits,
        said=phrase,
    )


def _like(value: str) -> str:
    """``%value%`` with LIKE's wildcards taken literally (``ESCAPE '!'``)."""
    return "%" + value.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def query_clause(q: CallQuery, alias: str, dialect: str) -> tuple[str, dict[str, Any]]:
    """`` AND …`` conditions on calls ``alias`` for ``q`` and their parameters ('' if none);
    ``dialect`` is the store's (the transcript search uses its full-text index).

    Needs no join: tags and outcome labels are read by subqueries. Parameter names start
    with ``cq_`` so they never meet the caller's own.
    """
    a = alias
    parts: list[str] = []
    params: dict[str, Any] = {}
    if q.status is not None:
        parts.append(_STATUS_SQL[q.status].format(a=a))
    if q.by_hand is not None:
        parts.append(f"{a}.qualified_by_hand IS {'NOT ' if q.by_hand else ''}NULL")
    # Filters on one value: (value, its parameter, the condition on calls {a}).
    tagged = "EXISTS (SELECT 1 FROM call_tags cqt WHERE cqt.call_id = {a}.id AND cqt.tag = :cq_tag)"
    labelled = "{a}.outcome_id IN (SELECT o.id FROM call_outcomes o WHERE o.label = :cq_label)"
    equal = (
        (None if q.qualified is None else int(q.qualified), "cq_q", "{a}.qualified = :cq_q"),
        (q.source, "cq_source", "COALESCE({a}.touch_source, '') = :cq_source"),
        (q.tag, "cq_tag", tagged),
        (q.outcome_id, "cq_oid", "{a}.outcome_id = :cq_oid"),
        (q.outcome, "cq_label", labelled),
        (q.caller, "cq_caller", "{a}.caller = :cq_caller"),
    )
    for value, name, condition in equal:
        if value is not None:
            parts.append(condition.format(a=a))
            params[name] = value
    if q.text:
        found = [
            f"lower({a}.touch_keyword) LIKE :cq_text ESCAPE '!'",
            f"lower({a}.note) LIKE :cq_text ESCAPE '!'",
        ]
        params["cq_text"] = _like(q.text.lower())
        if q.number is not None:
            found.append(f"{a}.caller = :cq_number")
            params["cq_number"] = q.number
        if q.digits is not None:
            found.append(f"{a}.caller LIKE :cq_digits ESCAPE '!'")
            params["cq_digits"] = _like(q.digits)
        parts.append("(" + " OR ".join(found) + ")")
    if q.said:
        said, said_params = transcripts.search_condition(q.said, dialect, a)
        parts.append(said)
        params.update(said_params)
    return "".join(f" AND {p}" for p in parts), params
