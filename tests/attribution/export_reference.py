"""The paths export as it was written before it was made faster (callpath 5e00f06, plus
the two columns ``outcome_suggested`` / ``outcome_suggested_by`` and the dialect-aware
filter the staging tree added meanwhile): one dict per call and one ``csv.writer`` row or
``orjson`` line at a time, kept here as the reference that ``test_export_writer.py`` holds
the new writer to, byte for byte.

Only what the reference itself did is here (its SQL, time and caller formatting, records
and sink); the filter (``where_clause``), the registries and the helpers that did not
change (``candidate_ids``, ``known_seconds``) are today's, shared by both.
"""

# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

import io
import operator
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from attribution import platforms
from attribution.csvcells import csv_writer
from attribution.exports import (
    _NO_TALK,
    _SESSION_ONLY,
    _TAGS,
    _TOUCH_EXPORTED,
    FORMATS,
    FORMS,
    PATH_SEPARATOR,
    ExportFilter,
    _outcome_name,
    candidate_ids,
    known_seconds,
    long_columns,
    where_clause,
    wide_columns,
)
from attribution.touch import click_ids
from pool.store import Row, Store

_CHUNK = 64 * 1024


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


def mask_caller(number: str) -> str:
    """The masking as it was: the country code's length looked up for every call."""
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
    db: Store, flt: ExportFilter, *, fmt: str = "csv", form: str = "wide",
    show_callers: bool = False, progress: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:  # fmt: skip
    """The writer as it was before the fast one (same arguments, same bytes): the export as
    UTF-8 chunks, ``progress`` called with the calls written so far, once per chunk."""
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
