"""Importing call detail records (CSV) from any carrier or PBX, matched like live calls.

A column mapping names which CSV column holds each field, e.g.
``caller=From,number=To,start=StartTime,duration=Duration``; without a header row,
columns are numbered from 1 (Asterisk's ``Master.csv``: ``caller=2,number=3,start=10,
duration=13,talk=14,status=15,id=17``). Re-importing the same file adds nothing: each row
is keyed by its ``id`` column, or by a digest of number, caller and start.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from backend.telephony import calls, matching, sanitize
from backend.telephony.calls import CallEvent
from pool.numbers import NumberError, to_e164
from pool.store import Store

FIELDS = {
    "id": "the call's id at the provider (else a digest of number, caller and start)",
    "caller": "who called (required)",
    "number": "the tracking number dialled (required)",
    "start": "when the call began: ISO 8601, 'YYYY-MM-DD HH:MM:SS', epoch s or ms (required)",
    "duration": "seconds from start to end",
    "talk": "seconds talked (billsec)",
    "status": "answered, busy, no-answer, failed, canceled (Asterisk dispositions too)",
    "forwarded": "where the call was forwarded",
    "recording": "recording URL",
}
REQUIRED = ("caller", "number", "start")
_STATUS_WORDS = {
    "answered": "answered",
    "answer": "answered",
    "completed": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "noanswer": "no-answer",
    "no answer": "no-answer",
    "failed": "failed",
    "congestion": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "cancel": "canceled",
}


def parse_mapping(text: str) -> dict[str, str]:
    """``field=Column,...`` -> {field: column}; ValueError names what is wrong."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not column:
            raise ValueError(f"--map entries look like field=Column, not {part!r}")
        if name not in FIELDS:
            raise ValueError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
        mapping[name] = column
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise ValueError(f"--map must name {', '.join(missing)}")
    return mapping


def parse_time(value: str, tz: ZoneInfo) -> int:
    """Epoch ms of a CDR time; times without an offset are in ``tz``."""
    text = value.strip()
    if text.isdigit():
        number = int(text)
        return number if number > 10**11 else number * 1000
    try:
        moment = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError as exc:
        raise ValueError(f"not a time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() * 1000)


def _seconds(value: str, name: str) -> int:
    text = value.strip()
    if not text:
        return -1
    try:
        seconds = int(float(text))
    except ValueError as exc:
        raise ValueError(f"{name} is not a number of seconds: {text!r}") from exc
    if not 0 <= seconds <= 7 * 86400:
        raise ValueError(f"{name} is out of range: {text!r}")
    return seconds


@dataclass
class ImportResult:
    """What an import did."""

    imported: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def row_event(
    row: dict[str, str], mapping: dict[str, str], *, provider: str, region: str, tz: ZoneInfo
) -> CallEvent:
    """One CSV row as a call event (ValueError when it cannot be one)."""
    row = sanitize.params(row)  # control characters out, as for every carrier

    def get(name: str) -> str:
        return (row.get(mapping[name]) or "").strip() if name in mapping else ""

    number_text = get("number")
    try:
        number = to_e164(number_text, region)
    except NumberError as exc:
        raise ValueError(f"number: {exc}") from exc
    caller = get("caller")
    try:
        caller = to_e164(caller, region)
    except NumberError:
        pass  # withheld or odd caller ids are kept as they came
    start = parse_time(get("start"), tz)
    duration = _seconds(get("duration"), "duration")
    talk = _seconds(get("talk"), "talk")
    status_text = get("status").lower().replace("_", "-")
    status = _STATUS_WORDS.get(status_text, _STATUS_WORDS.get(status_text.replace("-", " "), ""))
    if not status and talk > 0:
        status = "answered"
    call_id = get("id") or hashlib.sha256(f"{number}|{caller}|{start}".encode()).hexdigest()[:32]
    event = CallEvent(
        provider=provider,
        call_id=call_id[:128],
        kind="import",
        ts_ms=start + max(duration, talk, 0) * 1000,
        started_ms=start,
        tracking_number=number,
        caller=caller[:40],
        forwarded_to=get("forwarded")[:40],
        status=status,
        duration_s=duration,
        talk_s=talk,
        recording_url=get("recording")[:1000],
        payload={k: v for k, v in row.items() if isinstance(k, str) and k},
    )
    return sanitize.event(event)


def read_rows(lines: Iterable[str], *, header: bool) -> Iterable[dict[str, str]]:
    """CSV rows as dicts keyed by header name, or by column number (from 1) without one."""
    reader = csv.reader(lines)
    if header:
        names: Sequence[str] | None = None
        for values in reader:
            if names is None:
                names = [n.strip() for n in values]
                continue
            yield dict(zip(names, values, strict=False))
    else:
        for values in reader:
            yield {str(i + 1): v for i, v in enumerate(values)}


async def import_rows(
    db: Store,
    rows: Iterable[dict[str, str]],
    mapping: dict[str, str],
    *,
    provider: str = "cdr",
    region: str = "JP",
    timezone: str = "Asia/Tokyo",
    progress: Callable[[int], None] | None = None,
    first_line: int = 2,
    matcher: calls.Matcher = matching.match,
) -> ImportResult:
    """Import rows: each new call is matched, stored and qualified; known ones are skipped.

    ``first_line`` is the file line of the first row, for error messages.
    """
    tz = ZoneInfo(timezone)
    result = ImportResult()
    for line, row in enumerate(rows, start=first_line):
        try:
            event = row_event(row, mapping, provider=provider, region=region, tz=tz)
        except ValueError as exc:
            result.errors.append((line, str(exc)))
        else:
            known = await db.fetchval(
                "SELECT 1 FROM calls WHERE provider = :p AND provider_call_id = :c",
                {"p": provider, "c": event.call_id},
            )
            if known:
                result.duplicates += 1
            else:
                recorded = await calls.record(db, event, matcher)
                await matching.qualify(db, recorded.call_id)
                result.imported += 1
        if progress is not None:
            progress(line - first_line + 1)
    return result
