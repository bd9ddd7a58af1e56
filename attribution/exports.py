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

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from attribution import platforms, rollups
from attribution.call_search import CallQuery, query_clause
from attribution.csvcells import csv_rows
from attribution.sources import url_click_ids
from attribution.touch import CAMPAIGN_COLUMNS, TOUCH_FIELDS
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


def _text(expr: str) -> str:
    """A text cell: NULL when empty (NDJSON null, an empty CSV field)."""
    return f"NULLIF({expr}, '')"


def _csv_cell(expr: str) -> str:
    """A cell as the CSV file writes it: text, '' for NULL."""
    return f"COALESCE(CAST({expr} AS TEXT), '')"


_KNOWN_DURATION = (
    "CASE WHEN COALESCE(c.duration_s, 0) > 0 OR c.ended_ms IS NOT NULL"
    " THEN CAST(COALESCE(c.duration_s, 0) AS INTEGER) END"
)
_KNOWN_TALK = (
    "CASE WHEN COALESCE(c.talk_s, 0) > 0 OR c.answered_ms IS NOT NULL OR c.status IN ("
    + ", ".join(f"'{status}'" for status in sorted(_NO_TALK))
    + ") THEN CAST(COALESCE(c.talk_s, 0) AS INTEGER) END"
)


def _outcome(alias: str) -> str:
    """The label of the outcome joined as ``alias``, NULL when none: the built-in ones
    (stored as "@won" / "@open" / "@lost") by their kind, others as people named them."""
    return (
        f"CASE WHEN {alias}.label IN ('@won', '@open', '@lost') THEN substr({alias}.label, 2)"
        f" ELSE NULLIF({alias}.label, '') END"
    )


# Who suggested the outcome; '' with a suggestion is one made before the column existed,
# which only rules made.
_SUGGESTED_BY = (
    "CASE WHEN COALESCE(c.outcome_suggested_by, '') <> '' THEN c.outcome_suggested_by"
    " WHEN COALESCE(cs.label, '') <> '' THEN 'rules' ELSE '' END"
)
# The pages viewed before the call, in order, as a JSON array of their URLs.
_PAGES = {
    "sqlite": "(SELECT json_group_array(url) FROM (SELECT pv.url FROM page_views pv"
    " WHERE pv.session_id = c.session_id AND pv.ts_ms <= c.started_ms"
    " ORDER BY pv.ts_ms, pv.id))",
    "postgresql": "COALESCE((SELECT json_agg(pv.url ORDER BY pv.ts_ms, pv.id)::text"
    " FROM page_views pv WHERE pv.session_id = c.session_id"
    " AND pv.ts_ms <= c.started_ms), '[]')",
}
_FROM = (
    " FROM calls c"
    " LEFT JOIN sites st ON st.id = c.site_id"
    " LEFT JOIN sessions s ON s.id = c.session_id"
    " LEFT JOIN call_outcomes co ON co.id = c.outcome_id"
    " LEFT JOIN call_outcomes cs ON cs.id = c.outcome_suggested_id"
)


# Cells Python works out (:class:`_Cells`): SQL gives them as stored.
_WORKED_OUT = frozenset(("started_at", "caller", "match_candidate_ids", "session_started_at"))


def _cells_sql(dialect: str, fmt: str) -> list[str]:
    """The SELECT expressions of :func:`call_columns`, one each and in order, done in SQL
    as far as both stores can: for NDJSON the values (text cells NULL when empty), for CSV
    the cells' text ('' for NULL). What is left for Python: ``started_at`` and
    ``session_started_at`` come as epoch ms, ``caller`` unmasked, ``match_candidate_ids``
    as stored, and click ids without a column as NULL (read from the landing URL); for
    NDJSON the flags as stored too."""
    head = {
        "call_id": "c.id",
        "provider": "c.provider",
        "provider_call_id": _text("c.provider_call_id"),
        "started_at": "c.started_ms",
        "status": "c.status",
        "duration_s": _KNOWN_DURATION,
        "talk_s": _KNOWN_TALK,
        "caller": "COALESCE(c.caller, '')",
        "tracking_number": _text("c.tracking_number"),
        "forwarded_to": _text("c.forwarded_to"),
        "qualified": "c.qualified",
        "first_time": "c.first_time",
        "match_method": "c.match_method",
        "match_candidates": "c.match_candidates",
        "match_confidence": "c.match_confidence",
        "match_reason": "c.match_reason",
        "match_candidate_ids": "c.match_candidate_ids",
        "code_digits": _text("c.code_digits"),
        "code_kind": _text("c.code_kind"),
        "qualified_by_hand": "c.qualified_by_hand",
        "outcome": _outcome("co"),
        "outcome_kind": "COALESCE(co.kind, '')",
        # The machine's suggestion beside it (issue #22).
        "outcome_suggested": _outcome("cs"),
        "outcome_suggested_by": _SUGGESTED_BY,
        "tags": _text(_TAGS[dialect]),
        "value_yen": "c.value_yen",
        "menu_path": _text("c.menu_path"),
        "answered_by": _text("c.answered_by"),
        "queue_wait_s": "c.queue_wait_s",
        "voicemail_url": _text("c.voicemail_url"),
        "advertiser_id": "c.advertiser_id",
        "site_id": "c.site_id",
        "session_id": "c.session_id",
        "session_started_at": "s.started_ms",
    }
    assert list(head) == _CALL_HEAD
    clicks = [_text(f"c.touch_{c.column}") if c.column else "" for c in platforms.click_ids()]
    cells = [
        *(
            expr if name in _WORKED_OUT or fmt == "ndjson" else _csv_cell(expr)
            for name, expr in head.items()
        ),
        *(_cell(fmt, _text(f"c.touch_{name}")) for name in _TOUCH_EXPORTED),
        *(_cell(fmt, expr) if expr else "NULL" for expr in clicks),
        *(_cell(fmt, _text(f"s.{name}")) for name in _SESSION_ONLY),
    ]
    return cells


def _cell(fmt: str, expr: str) -> str:
    return _csv_cell(expr) if fmt == "csv" else expr


def wide_sql(dialect: str = "sqlite", fmt: str = "csv") -> str:
    """The wide export's SELECT (without WHERE and ORDER), one row per call: the cells of
    :func:`wide_columns` in order (see :func:`_cells_sql`), except that ``page_count``
    holds the pages' URLs as a JSON array and ``path`` the site's time zone; then the
    call's landing URL when a click id has no column."""
    extra = ", c.touch_landing_url" if platforms.unstored_click_ids() else ""
    return (
        "SELECT "
        + ", ".join(_cells_sql(dialect, fmt))
        + f", {_PAGES[dialect]}, st.timezone{extra}"
        + _FROM
    )


def long_sql(dialect: str = "sqlite", fmt: str = "csv") -> str:
    """The long export's SELECT, one row per page view (one for a call without any): the
    cells of :func:`long_columns` in order (see :func:`_cells_sql`), except that ``step``
    holds the site's time zone and ``viewed_at`` the view's epoch ms; then the call's
    landing URL when a click id has no column."""
    extra = ", c.touch_landing_url" if platforms.unstored_click_ids() else ""
    url, title = _cell(fmt, _text("pv.url")), _cell(fmt, _text("pv.title"))
    return (
        "SELECT "
        + ", ".join(_cells_sql(dialect, fmt))
        + f", st.timezone, pv.ts_ms, {url}, {title}{extra}"
        + _FROM
        + " LEFT JOIN page_views pv ON pv.session_id = c.session_id"
        " AND pv.ts_ms <= c.started_ms"
    )


# Start-time order: an index serves it with or without a site/advertiser filter, so the
# database streams rows as it finds them instead of sorting the whole export first.
ORDER = " ORDER BY c.started_ms, c.id"
LONG_ORDER = ORDER + ", pv.ts_ms, pv.id"


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
    cc_len = _CC_LENGTHS.get(digits[:3])
    if cc_len is None:
        cc_len = next((n for n in (1, 2, 3) if int(digits[:n]) in COUNTRY_CODE_TO_REGION_CODE), 1)
        if len(_CC_LENGTHS) < 10_000:
            _CC_LENGTHS[digits[:3]] = cc_len
    rest = digits[cc_len:]
    return "+" + digits[:cc_len] + "*" * (len(rest) - 4) + rest[-4:]


# The length of a number's country code by its first three digits (exports mask millions).
_CC_LENGTHS: dict[str, int] = {}


def _zone(tz: str | None) -> Any:
    """A site's time zone (UTC when unknown or not a zone)."""
    try:
        return ZoneInfo(tz) if tz else UTC
    except (ValueError, KeyError):
        return UTC


def iso_time(ms: int | None, tz: str | None) -> str:
    """Epoch ms as ISO 8601 in a site's time zone (UTC when unknown); '' for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, _zone(tz)).isoformat(timespec="seconds")


_UNIX_DAY = date(1970, 1, 1).toordinal()
# Epoch ms :class:`IsoTimes` works out itself: years 1970 to 9998 in every zone.
_FAST_MS = (0, 253_370_764_800_000)


class IsoTimes:
    """:func:`iso_time` for a long run of times, the same text at a fraction of the cost.

    A zone's offset is looked up once per hour of time (when it is the same at both ends of
    the hour; an hour with a change in it goes through :func:`iso_time`), a date's text
    once per day; the rest is integer arithmetic.
    """

    def __init__(self) -> None:
        self._hours: dict[str | None, dict[int, tuple[int, str] | None]] = {}
        self._days: dict[int, str] = {}

    def _hour(self, tz: str | None, hour: int) -> tuple[int, str] | None:
        zone = _zone(tz)
        first = datetime.fromtimestamp(hour * 3600, zone)
        last = datetime.fromtimestamp(hour * 3600 + 3599, zone)
        offset = first.utcoffset()
        if offset is None or offset != last.utcoffset() or offset.microseconds:
            return None
        # "+09:00" (or "+09:18:59" for an offset with seconds)
        return int(offset.total_seconds()), first.isoformat(timespec="seconds")[19:]

    def __call__(self, ms: int, tz: str | None) -> str:
        """:func:`iso_time` of ``ms`` (not None) in zone ``tz``."""
        if not _FAST_MS[0] <= ms < _FAST_MS[1]:
            return iso_time(ms, tz)
        second = ms // 1000
        hour = second // 3600
        hours = self._hours.get(tz)
        if hours is None:
            hours = self._hours[tz] = {}
        if hour in hours:
            known = hours[hour]
        else:
            if len(hours) > 100_000:  # a few years of hours; then start again
                hours.clear()
            known = hours[hour] = self._hour(tz, hour)
        if known is None:
            return iso_time(ms, tz)
        offset, suffix = known
        day, rest = divmod(second + offset, 86400)
        text = self._days.get(day)
        if text is None:
            if len(self._days) > 100_000:
                self._days.clear()
            text = self._days[day] = date.fromordinal(_UNIX_DAY + day).isoformat()
        minutes, s = divmod(rest, 60)
        h, m = divmod(minutes, 60)
        return f"{text}T{h:02d}:{m:02d}:{s:02d}{suffix}"


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


class _Cells:
    """Turns the rows of :func:`wide_sql` / :func:`long_sql` into the rows of the file: the
    few cells SQL leaves (times, the masked caller, flags, candidate ids, click ids read from
    the landing URL) worked out in place. A CSV row is all text (its cells as written)."""

    def __init__(self, fmt: str, show_callers: bool) -> None:
        self.ndjson = fmt == "ndjson"
        # A value that is not there: NDJSON null, an empty CSV field.
        self.absent: str | None = None if self.ndjson else ""
        self.number: Callable[[int], Any] = int if self.ndjson else str
        self.show_callers = show_callers
        self.times = IsoTimes()
        self.candidates: dict[str | None, Any] = {}
        columns = call_columns()
        self.started = columns.index("started_at")
        self.caller = columns.index("caller")
        self.flags = (columns.index("qualified"), columns.index("first_time"))
        self.ids = columns.index("match_candidate_ids")
        self.by_hand = columns.index("qualified_by_hand")
        self.session_started = columns.index("session_started_at")
        self.width = len(columns)
        self.unstored = platforms.unstored_click_ids()
        self.unstored_at = [columns.index(name) for name in self.unstored]

    def _candidate_ids(self, stored: str | None) -> Any:
        """The cell of ``match_candidate_ids``: a list (NDJSON), the ids with spaces (CSV)."""
        ids = candidate_ids(stored)
        return ids if self.ndjson else " ".join(str(i) for i in ids)

    def call(self) -> Callable[[list[Any], str | None], None]:
        """The function that works out the call's cells of a row (its first
        :func:`call_columns`) in place, given the site's time zone: one call per row, its
        constants bound once."""
        times, absent, show, ndjson = self.times, self.absent, self.show_callers, self.ndjson
        started, caller_at, ids_at = self.started, self.caller, self.ids
        session_started, by_hand_at = self.session_started, self.by_hand
        qualified_at, first_time_at = self.flags
        candidates, candidate_cell = self.candidates, self._candidate_ids
        unstored, unstored_at = self.unstored, self.unstored_at

        def call(r: list[Any], tz: str | None) -> None:
            r[started] = times(r[started], tz)
            caller = r[caller_at]
            r[caller_at] = (caller if show else mask_caller(caller)) or absent
            stored = r[ids_at]
            ids = candidates.get(stored)
            if ids is None:
                if len(candidates) > 10_000:
                    candidates.clear()
                ids = candidates[stored] = candidate_cell(stored)
            r[ids_at] = ids
            session_ms = r[session_started]
            r[session_started] = absent if session_ms is None else times(session_ms, tz)
            if ndjson:  # CSV flags read 1/0, as stored (SQL wrote them); NDJSON true/false
                r[qualified_at] = bool(r[qualified_at])
                r[first_time_at] = bool(r[first_time_at])
                by_hand = r[by_hand_at]
                r[by_hand_at] = "" if by_hand is None else bool(by_hand)
            if unstored:  # the landing URL came last
                found = url_click_ids(r.pop() or "", unstored)
                for name, at in zip(unstored, unstored_at, strict=True):
                    r[at] = found.get(name) or absent

        return call


class _Out:
    """Rows to UTF-8 bytes: CSV (every text cell made safe, an absent value an empty field)
    or NDJSON (the columns as keys)."""

    def __init__(self, fmt: str, columns: list[str]) -> None:
        self.csv = fmt == "csv"
        self.columns = columns

    def header(self) -> bytes:
        return csv_rows([self.columns]).encode() if self.csv else b""

    def rows(self, rows: list[list[Any]]) -> bytes:
        if self.csv:
            return csv_rows(rows).encode()
        columns = self.columns
        dumps = orjson.dumps
        line = orjson.OPT_APPEND_NEWLINE
        return b"".join([dumps(dict(zip(columns, r, strict=True)), option=line) for r in rows])


async def _wide(
    db: Store, sql: str, params: dict[str, Any], cells: _Cells, out: _Out
) -> AsyncIterator[tuple[int, bytes]]:
    """(calls, bytes) per batch of the wide form."""
    pages_at = cells.width  # the pages' URLs as JSON, then the time zone
    ndjson, number, call = cells.ndjson, cells.number, cells.call()
    loads, separator = orjson.loads, PATH_SEPARATOR.join
    async for batch in db.iterate_values(sql, params, batch=_BATCH):
        rows = []
        for row in batch:
            r = list(row)
            call(r, r[pages_at + 1])
            urls = loads(r[pages_at])
            r[pages_at] = number(len(urls))
            r[pages_at + 1] = urls if ndjson else separator(urls)
            rows.append(r)
        yield len(rows), out.rows(rows)


async def _long(
    db: Store, sql: str, params: dict[str, Any], cells: _Cells, out: _Out
) -> AsyncIterator[tuple[int, bytes]]:
    """(calls, bytes) per batch of the long form (a call's cells worked out once)."""
    at = cells.width  # step (holding the time zone), viewed_at (epoch ms), url, title
    call = cells.call()
    current_id: Any = None
    head: list[Any] = []
    step = 0
    async for batch in db.iterate_values(sql, params, batch=_BATCH):
        rows = []
        calls = 0
        for row in batch:
            r = list(row)
            tz, ts = r[at], r[at + 1]
            if r[0] != current_id:
                current_id = r[0]
                calls += 1
                step = 0
                call(r, tz)
                head = r[:at]
            else:
                if cells.unstored:
                    r.pop()
                r[:at] = head
            if ts is None:  # a call without pages: its page cells absent
                r[at] = r[at + 1] = cells.absent
            else:
                step += 1
                r[at] = cells.number(step)
                r[at + 1] = cells.times(ts, tz)
            rows.append(r)
        yield calls, out.rows(rows)


# Rows read and written at a time: about 200 KiB of CSV in the wide form.
_BATCH = 500


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

    One query read in batches (:meth:`pool.store.Store.iterate_values`), each batch's rows
    built as lists in column order and written at once. ``progress`` is called with the
    number of calls written so far, once per chunk.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}")
    where, params = where_clause(flt, db.dialect)
    cells = _Cells(fmt, show_callers)
    if form == "wide":
        out = _Out(fmt, wide_columns())
        batches = _wide(db, wide_sql(db.dialect, fmt) + where + ORDER, params, cells, out)
    else:
        out = _Out(fmt, long_columns())
        sql = long_sql(db.dialect, fmt) + where + LONG_ORDER
        batches = _long(db, sql, params, cells, out)
    pending = [out.header()]
    size = len(pending[0])
    calls = 0
    async for n, chunk in batches:
        if size >= _CHUNK:
            if progress is not None:
                progress(calls)
            yield b"".join(pending)
            pending.clear()
            size = 0
        calls += n
        pending.append(chunk)
        size += len(chunk)
    if progress is not None:
        progress(calls)
    yield b"".join(pending)


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
