"""Session-to-call path exports, caller masking and the retention purge.

An export is one streaming query (calls joined to their session, site and the page views
before the call, in call order) turned into CSV or NDJSON chunks as it is read, so memory
stays flat whatever the size of the export. Two shapes:

- ``wide``: one row per call, with the ordered page path in one field;
- ``long``: one row per page view (a call without pages still gets one row, pages empty).

Source, campaign, keyword, click ids, landing page and referrer are the touch frozen on the
call when it was matched (``attribution.touch``), not the session's latest touch; there is
one column per click id of the platform registry (``attribution.platforms``); device
and place are the session's. In NDJSON a value that is not there is ``null`` (CSV: an
empty field): no session, no page, a duration not known yet.
"""

from __future__ import annotations

import io
import operator
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from attribution import platforms, rollups
from attribution.call_search import CallQuery, query_clause
from attribution.csvcells import csv_writer
from attribution.touch import CAMPAIGN_COLUMNS, TOUCH_FIELDS, click_ids
from pool.scope import Scope
from pool.store import Row, Store

FORMATS = ("csv", "ndjson")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
FORMS = ("wide", "long")
PATH_SEPARATOR = " > "
_CHUNK = 64 * 1024

_CALL_HEAD = [
    "call_id",
    "provider",
    "provider_call_id",
    "started_at",
    "status",
    "duration_s",
    "talk_s",
    "caller",
    "tracking_number",
    "forwarded_to",
    "qualified",
    "first_time",
    "match_method",
    "match_candidates",
    "match_confidence",
    "match_reason",
    "match_candidate_ids",
    "code_digits",
    "code_kind",
    "qualified_by_hand",
    "outcome",
    "outcome_kind",
    # The machine's suggestion beside it (issue #22): a transcript rule's or the model's.
    "outcome_suggested",
    "outcome_suggested_by",
    "tags",
    "value_yen",
    # The call's flow (issue #18): the menu choices, who answered, the queue, a voicemail.
    "menu_path",
    "answered_by",
    "queue_wait_s",
    "voicemail_url",
    "advertiser_id",
    "site_id",
    "session_id",
    "session_started_at",
]
# The call's own frozen touch for these; the click ids (one column each, from the platform
# registry) come between them and the matched session's device and place.
_TOUCH_EXPORTED = [*CAMPAIGN_COLUMNS, "landing_url", "referrer"]
_SESSION_ONLY = ["device", "browser", "os", "country", "region", "city"]


def call_columns() -> list[str]:
    """The columns every export row starts with; one per registered click id."""
    return [*_CALL_HEAD, *_TOUCH_EXPORTED, *platforms.click_id_names(), *_SESSION_ONLY]


def wide_columns() -> list[str]:
    """The columns of the wide form (one row per call)."""
    return [*call_columns(), "page_count", "path"]


def long_columns() -> list[str]:
    """The columns of the long form (one row per page view)."""
    return [*call_columns(), "step", "viewed_at", "url", "title"]


# The registry as it is when read (a platform added later has its column).
CALL_COLUMNS = platforms.Live(call_columns)
WIDE_COLUMNS = platforms.Live(wide_columns)
LONG_COLUMNS = platforms.Live(long_columns)

# Statuses after which a call had no talk: a talk time of 0 is known, not missing.
_NO_TALK = frozenset({"busy", "no-answer", "failed", "canceled", "blocked"})
# Best first; ``ExportFilter.confidences`` lists the ones kept.
CONFIDENCES = ("exact", "high", "medium", "low")


# A call's tags as one text, in order (the two stores name the aggregate differently).
_TAGS = {
    "sqlite": "(SELECT group_concat(tag, ', ') FROM (SELECT tag FROM call_tags"
    " WHERE call_id = c.id ORDER BY tag))",
    "postgresql": "(SELECT string_agg(tag, ', ' ORDER BY tag) FROM call_tags WHERE call_id = c.id)",
}


def _outcome_name(label: str | None) -> str:
    """An outcome as exported: the built-in ones ("@won") by their kind ("won"), others as
    people named them."""
    if label in ("@won", "@open", "@lost"):
        return label[1:]
    return label or ""


def _sql(dialect: str = "sqlite") -> str:
    """The export's SELECT (without WHERE and ORDER): touch columns under ``s_<name>``."""
    clicks = [f"c.touch_{c.column} AS s_{c.param}" for c in platforms.click_ids() if c.column]
    return (
        "SELECT c.id, c.provider, c.provider_call_id, c.started_ms, c.ended_ms, c.answered_ms,"
        " c.status, c.duration_s, c.talk_s, c.caller,"
        " c.tracking_number, c.forwarded_to, c.qualified, c.first_time, c.match_method,"
        " c.match_candidates, c.match_confidence, c.match_reason, c.match_candidate_ids,"
        " c.code_digits, c.code_kind, c.qualified_by_hand, c.value_yen,"
        " c.menu_path, c.answered_by, c.queue_wait_s, c.voicemail_url,"
        " co.label AS outcome, co.kind AS outcome_kind, cs.label AS outcome_suggested,"
        " c.outcome_suggested_by, "
        + _TAGS[dialect]
        + " AS tags, c.advertiser_id, c.site_id, c.session_id,"
        " st.timezone AS tz, s.started_ms AS session_started_ms, "
        + ", ".join([*(f"c.touch_{f} AS s_{f}" for f in _TOUCH_EXPORTED), *clicks])
        + ", "
        + ", ".join(f"s.{f} AS s_{f}" for f in _SESSION_ONLY)
        + ", pv.ts_ms AS pv_ts, pv.url AS pv_url, pv.title AS pv_title"
        " FROM calls c"
        " LEFT JOIN sites st ON st.id = c.site_id"
        " LEFT JOIN sessions s ON s.id = c.session_id"
        " LEFT JOIN call_outcomes co ON co.id = c.outcome_id"
        " LEFT JOIN call_outcomes cs ON cs.id = c.outcome_suggested_id"
        " LEFT JOIN page_views pv ON pv.session_id = c.session_id AND pv.ts_ms <= c.started_ms"
    )


# Start-time order: an index serves it with or without a site/advertiser filter, so the
# database streams rows as it finds them instead of sorting the whole export first.
ORDER = " ORDER BY c.started_ms, c.id, pv.ts_ms"


@dataclass(frozen=True)
class ExportFilter:
    """Which calls an export holds: started in [start_ms, end_ms), optional scope."""

    start_ms: int
    end_ms: int
    site_id: int | None = None
    advertiser_id: int | None = None
    qualified_only: bool = False
    # Only calls matched with one of these confidences (None: every call).
    confidences: tuple[str, ...] | None = None
    # A report's drill-down: (dimension, value), e.g. ("keyword", "インプラント").
    drill: tuple[str, str] | None = None
    # The call log's filters and search (attribution.call_search): the calls it lists.
    calls: CallQuery | None = None
    # A row of a breakdown narrows by its parents' keys too: ("source", "yahoo"), ...
    drill_more: tuple[tuple[str, str], ...] = ()


# Report dimensions a call list can be narrowed to (landing pages are grouped by page, so a
# call's landing URL does not equal the report's key: not here). Touch fields read the touch
# frozen on the call; the device is the matched session's.
DRILL_DIMENSIONS = (
    "channel",
    "source",
    "campaign",
    "ad_group",
    "keyword",
    "match_type",
    "device",
)
DRILL_VALUE_MAX = 500
# The drill-down of a report's row of calls without a web session (any dimension).
NO_SESSION_DRILL = ("session", "none")
# A call of that row: no web session and no touch either. A call credited without a visit
# (a fixed code's or a static source number's medium, frozen on the call) is counted under
# its touch's values like any other, not in this row.
NO_SESSION_SQL = "(c.session_id IS NULL AND c.touch_source = '' AND c.touch_channel = '')"


def drill_clause(dimension: str, value: str, name: str = "drill") -> tuple[str, dict[str, Any]]:
    """`` AND <the call's dimension> = value`` for a report's drill-down ('' value: none).

    The same rule as the report's row, so a row's count and its drill-down's agree. Needs
    no join (the device is read from the call's session by a subquery). ValueError for an
    unknown dimension or an over-long value. ``name``: the value's parameter name.
    """
    if (dimension, value) == NO_SESSION_DRILL:
        return f" AND {NO_SESSION_SQL}", {}
    if dimension not in DRILL_DIMENSIONS or len(value) > DRILL_VALUE_MAX:
        raise ValueError(f"unknown drill-down {dimension!r}")
    if dimension in TOUCH_FIELDS:
        column = f"c.touch_{dimension}"
    else:
        column = f"(SELECT ds.{dimension} FROM sessions ds WHERE ds.id = c.session_id)"
    return f" AND COALESCE({column}, '') = :{name}", {name: value}


def drills_clause(drills: Iterable[tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """:func:`drill_clause` for each (dimension, value) of a breakdown's row, all at once."""
    sql, params = "", {}
    for i, (dimension, value) in enumerate(drills):
        more, more_params = drill_clause(dimension, value, f"drill{i}" if i else "drill")
        sql += more
        params.update(more_params)
    return sql, params


def confidence_clause(
    alias: str, confidences: tuple[str, ...] | None
) -> tuple[str, dict[str, Any]]:
    """`` AND alias.match_confidence IN (...)`` for a confidence filter ('' for None).

    Only the fixed names of :data:`CONFIDENCES` are accepted (ValueError otherwise).
    """
    if confidences is None:
        return "", {}
    unknown = [c for c in confidences if c not in CONFIDENCES]
    if unknown or not confidences:
        raise ValueError(f"unknown confidences {unknown}")
    params = {f"conf{i}": c for i, c in enumerate(confidences)}
    names = ", ".join(f":{k}" for k in params)
    return f" AND {alias}.match_confidence IN ({names})", params


def where_clause(f: ExportFilter, dialect: str) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (on calls aliased ``c``) and parameters of a filter, for the store
    of ``dialect`` (the call filters' transcript search uses its full-text index)."""
    clauses = ["c.started_ms >= :start", "c.started_ms < :end"]
    params: dict[str, Any] = {"start": f.start_ms, "end": f.end_ms}
    scope = Scope.of(f.advertiser_id, f.site_id)
    if not scope.is_everything:
        where, scope_params = scope.call_condition("c")
        clauses.append(where)
        params.update(scope_params)
    if f.qualified_only:
        clauses.append("c.qualified = 1")
    conf, conf_params = confidence_clause("c", f.confidences)
    params.update(conf_params)
    drill = ""
    if f.drill is not None:
        drill, drill_params = drills_clause((f.drill, *f.drill_more))
        params.update(drill_params)
    found = ""
    if f.calls is not None:
        found, found_params = query_clause(f.calls, "c", dialect)
        params.update(found_params)
    return " WHERE " + " AND ".join(clauses) + conf + drill + found, params


def mask_caller(number: str) -> str:
    """A caller number with all but its country code and last four digits hidden.

    ``+81312345678`` becomes ``+81*****5678``; anything that is not E.164 (``anonymous``,
    empty) is returned as it is, since it identifies nobody.
    """
    if not number.startswith("+") or not number[1:].isdigit() or len(number) < 8:
        return number
    digits = number[1:]
    cc_len = next((n for n in (1, 2, 3) if int(digits[:n]) in COUNTRY_CODE_TO_REGION_CODE), 1)
    rest = digits[cc_len:]
    return "+" + digits[:cc_len] + "*" * (len(rest) - 4) + rest[-4:]


def iso_time(ms: int | None, tz: str | None) -> str:
    """Epoch ms as ISO 8601 in a site's time zone (UTC when unknown); '' for None."""
    if ms is None:
        return ""
    try:
        zone: Any = ZoneInfo(tz) if tz else UTC
    except (ValueError, KeyError):
        zone = UTC
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")


def candidate_ids(stored: str | None) -> list[int]:
    """The candidate session ids stored on a call (``match_candidate_ids``, a JSON list)."""
    try:
        value = orjson.loads(stored or "[]")
    except orjson.JSONDecodeError:
        return []
    return [int(i) for i in value] if isinstance(value, list) else []


def known_seconds(row: Row) -> tuple[int | None, int | None]:
    """A call's ``(duration_s, talk_s)``, each None while it is not known.

    The columns hold 0 until a callback says more: a call still ringing has no duration
    yet, and a call that ended without any talk time (no dial outcome, no talk in its
    record) has an unknown talk time, not a talk time of 0. After a busy, unanswered,
    failed, cancelled or blocked call, 0 is the known answer.
    """
    duration = int(row["duration_s"] or 0)
    talk = int(row["talk_s"] or 0)
    known_duration = duration > 0 or row["ended_ms"] is not None
    known_talk = talk > 0 or row["status"] in _NO_TALK or row["answered_ms"] is not None
    return (duration if known_duration else None, talk if known_talk else None)


def _empty_is_null(value: str) -> str | None:
    return value or None


def _call_record(
    row: Row,
    show_callers: bool,
    flag: Callable[[Any], Any],
    text: Callable[[str], Any],
    click_names: tuple[str, ...],
) -> dict[str, Any]:
    tz = row["tz"]
    caller = row["caller"] or ""
    duration, talk = known_seconds(row)
    rec: dict[str, Any] = {
        "call_id": row["id"],
        "provider": row["provider"],
        "provider_call_id": text(row["provider_call_id"] or ""),
        "started_at": iso_time(row["started_ms"], tz),
        "status": row["status"],
        "duration_s": duration,
        "talk_s": talk,
        "caller": text(caller if show_callers else mask_caller(caller)),
        "tracking_number": text(row["tracking_number"] or ""),
        "forwarded_to": text(row["forwarded_to"] or ""),
        "qualified": flag(row["qualified"]),
        "first_time": flag(row["first_time"]),
        "match_method": row["match_method"],
        "match_candidates": row["match_candidates"],
        "match_confidence": row["match_confidence"],
        "match_reason": row["match_reason"],
        "match_candidate_ids": candidate_ids(row["match_candidate_ids"]),
        "code_digits": text(row["code_digits"] or ""),
        "code_kind": text(row["code_kind"] or ""),
        "qualified_by_hand": ""
        if row["qualified_by_hand"] is None
        else flag(row["qualified_by_hand"]),
        # Built-in outcomes are stored as "@won" / "@open" / "@lost": exported as their kind.
        "outcome": text(_outcome_name(row["outcome"])),
        "outcome_kind": row["outcome_kind"] or "",
        "outcome_suggested": text(_outcome_name(row["outcome_suggested"])),
        # '' with a suggestion: one made before the column existed, which only rules made
        "outcome_suggested_by": row["outcome_suggested_by"]
        or ("rules" if row["outcome_suggested"] else ""),
        "tags": text(row["tags"] or ""),
        "value_yen": row["value_yen"],
        "menu_path": text(row["menu_path"] or ""),
        "answered_by": text(row["answered_by"] or ""),
        "queue_wait_s": row["queue_wait_s"],
        "voicemail_url": text(row["voicemail_url"] or ""),
        "advertiser_id": row["advertiser_id"],
        "site_id": row["site_id"],
        "session_id": row["session_id"],
        "session_started_at": text(iso_time(row["session_started_ms"], tz)),
    }
    for name in _TOUCH_EXPORTED:
        rec[name] = text(row[f"s_{name}"] or "")
    clicks = click_ids(row, prefix="s_")
    for name in click_names:
        rec[name] = text(clicks.get(name, ""))
    for name in _SESSION_ONLY:
        rec[name] = text(row[f"s_{name}"] or "")
    return rec


class _Sink:
    """Collects rows as encoded bytes and hands out chunks of about 64 KiB."""

    def __init__(self, fmt: str, columns: list[str]) -> None:
        self.fmt = fmt
        self.columns = columns
        self.text = io.StringIO()
        self.blob = bytearray()
        # Every text cell of the CSV is escaped there (attribution/csvcells.py); NDJSON is
        # data, not a spreadsheet, and keeps every value as it is.
        self.writer = csv_writer(self.text) if fmt == "csv" else None
        self.pick = operator.itemgetter(*columns)

    def header(self) -> None:
        if self.writer is not None:
            self.writer.writerow(self.columns)

    def add(self, rec: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.writerow(self.pick(rec))  # None is written as an empty field
        else:
            self.blob += orjson.dumps(rec)
            self.blob += b"\n"

    def size(self) -> int:
        return self.text.tell() + len(self.blob)

    def take(self) -> bytes:
        out = self.text.getvalue().encode() + bytes(self.blob)
        self.text.seek(0)
        self.text.truncate()
        self.blob.clear()
        return out


async def stream_paths(
    db: Store,
    flt: ExportFilter,
    *,
    fmt: str = "csv",
    form: str = "wide",
    show_callers: bool = False,
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The export as UTF-8 byte chunks (CSV with a header row, or NDJSON), in call start
    order. A CSV download's encoding is :func:`attribution.csv_encoding.encode_csv`'s.

    ``progress`` is called with the number of calls written so far, once per chunk.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}")
    where, params = where_clause(flt, db.dialect)
    sql = _sql(db.dialect) + where + ORDER
    click_names = platforms.click_id_names()
    sink = _Sink(fmt, wide_columns() if form == "wide" else long_columns())
    sink.header()
    flag: Callable[[Any], Any] = bool if fmt == "ndjson" else int  # CSV flags read 1/0
    # An absent value: an empty CSV field (the writer escapes text), null in NDJSON.
    text: Callable[[str], Any] = str if fmt == "csv" else _empty_is_null
    # A call without pages still gets a row in the long form, its page columns absent.
    no_page = dict.fromkeys(("step", "viewed_at", "url", "title"), "" if fmt == "csv" else None)
    calls = 0
    current: dict[str, Any] | None = None
    current_id: int | None = None
    pages: list[tuple[int, str, str]] = []
    step = 0

    def finish_wide() -> None:
        assert current is not None
        current["page_count"] = len(pages)
        urls = [url for _, url, _ in pages]
        current["path"] = urls if fmt == "ndjson" else PATH_SEPARATOR.join(urls)
        sink.add(current)

    async for row in db.iterate(sql, params, batch=1000):
        if row["id"] != current_id:
            if current is not None:
                if form == "wide":
                    finish_wide()
                elif step == 0:
                    sink.add({**current, **no_page})
            current_id = row["id"]
            current = _call_record(row, show_callers, flag, text, click_names)
            if fmt == "csv":  # one field: the ids separated by spaces
                current["match_candidate_ids"] = " ".join(
                    str(i) for i in current["match_candidate_ids"]
                )
            pages = []
            step = 0
            calls += 1
            if sink.size() >= _CHUNK:
                if progress is not None:
                    progress(calls - 1)
                yield sink.take()
        if row["pv_ts"] is None:
            continue
        if form == "wide":
            pages.append((row["pv_ts"], row["pv_url"], row["pv_title"]))
        else:
            step += 1
            assert current is not None
            sink.add(
                {
                    **current,
                    "step": step,
                    "viewed_at": iso_time(row["pv_ts"], row["tz"]),
                    "url": text(row["pv_url"]),
                    "title": text(row["pv_title"]),
                }
            )
    if current is not None:
        if form == "wide":
            finish_wide()
        elif step == 0:
            sink.add({**current, **no_page})
    if progress is not None:
        progress(calls)
    yield sink.take()


_CLEAR_TOUCH = ", ".join(f"touch_{f} = ''" for f in TOUCH_FIELDS) + ", touch_ms = NULL"


@dataclass(frozen=True)
class PurgeResult:
    """What a retention purge removed."""

    sessions: int
    page_views: int
    calls_unlinked: int


async def purge_older_than(db: Store, *, cutoff_ms: int, batch: int = 500) -> PurgeResult:
    """Delete sessions last seen before ``cutoff_ms`` with their page views and ended leases.

    Calls keep their row but lose the link (``session_id`` and ``lease_id`` set NULL) and
    the touch frozen on them: the call itself is the business's record, the browsing path
    and click ids are the visitor's and go. A session that still holds a live lease is
    kept until the lease ends. Runs in small units of work so the single writer is never
    held for long.
    """
    sessions = page_views = unlinked = 0
    while True:
        rows = await db.fetchall(
            "SELECT s.id FROM sessions s WHERE s.last_seen_ms < :cut AND NOT EXISTS"
            " (SELECT 1 FROM leases l WHERE l.session_id = s.id AND l.ended_ms IS NULL)"
            " ORDER BY s.id LIMIT :n",
            {"cut": cutoff_ms, "n": batch},
        )
        if not rows:
            return PurgeResult(sessions, page_views, unlinked)
        ids = {f"i{n}": r["id"] for n, r in enumerate(rows)}
        in_ids = "(" + ", ".join(f":{k}" for k in ids) + ")"
        async with db.write() as tx:
            # The touch frozen on the call is the visitor's data too (click ids, landing URL).
            unlinked += await tx.execute(
                f"UPDATE calls SET session_id = NULL, lease_id = NULL, {_CLEAR_TOUCH}"
                f" WHERE session_id IN {in_ids}",
                ids,
            )
            await tx.execute(
                "UPDATE calls SET lease_id = NULL WHERE lease_id IN"
                f" (SELECT id FROM leases WHERE session_id IN {in_ids})",
                ids,
            )
            # The pool's exhaustion log keeps its count (pool health) without the visitor.
            await tx.execute(
                f"UPDATE pool_exhaustions SET session_id = NULL WHERE session_id IN {in_ids}",
                ids,
            )
            page_views += await tx.execute(
                f"DELETE FROM page_views WHERE session_id IN {in_ids}", ids
            )
            await tx.execute(f"DELETE FROM leases WHERE session_id IN {in_ids}", ids)
            # A visit code names the session; with the session gone it names nobody.
            await tx.execute(f"DELETE FROM visit_codes WHERE session_id IN {in_ids}", ids)
            # Their days' roll-ups count them: redone from what is left.
            await rollups.mark_sessions(tx, ids, in_ids)
            sessions += await tx.execute(f"DELETE FROM sessions WHERE id IN {in_ids}", ids)
