"""Retract and restate conversions already sent, when the call changed (adjustments).

A call sent as a conversion can change afterwards: a person marks it not qualified, gives
it an outcome or a value, and the action's rule or value says something else now.
:func:`adjust_action` compares every conversion the action sent (``conversion_sent``) with
what the call is now and writes the platform's adjustment file (the registry's
``adjustment_columns``: Google Ads' conversion adjustments, Yahoo! JAPAN's 調整用テンプレート,
Microsoft's offline conversion adjustments):

- a call that no longer counts is **retracted** (its rows become ``retracted``: the
  platforms ignore any later adjustment of a retracted conversion, so none is written);
- a call whose value changed is **restated** with its new value (the row keeps the value
  now stated, so the next run restates only a further change).

Each adjustment is written once, in the same unit of work that records it
(``conversion_adjustments``) and keeps the file as a batch: running it again without a change
gives an empty file. The conversion is named as it was sent: click id, conversion name and
the conversion time first written (the platforms find the conversion by them).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from attribution import conversions, platforms
from attribution.conversion_actions import (
    Action,
    call_value,
    calls_sql,
    finish_file,
    site_zone,
)
from attribution.csvcells import csv_writer
from pool.store import Store

RETRACT, RESTATE = "retract", "restate"


def _render(fmt: platforms.ConversionFormat, rows: list[dict[str, Any]], offset: str) -> bytes:
    out = io.StringIO()
    w = csv_writer(out)
    if fmt.timezone_row:
        w.writerow([fmt.timezone_row.format(offset=offset)])
    w.writerow([header for _, header in fmt.adjustment_columns])
    for r in rows:
        w.writerow([r[field] for field, _ in fmt.adjustment_columns])
    return out.getvalue().encode(fmt.encoding)


async def adjust_action(
    db: Store, action: Action, *, now_ms: int, created_by: str = ""
) -> conversions.ConversionFile:
    """The adjustment file of every conversion of ``action`` whose call changed since it was
    sent (see the module docstring); recorded, so each change is written once.

    Raises :class:`attribution.platforms.UnknownPlatform` for a platform whose file takes no
    adjustments.
    """
    fmt = platforms.file_format(action.platform)
    if not fmt.adjustment_columns:
        raise platforms.UnknownPlatform(f"{action.platform} takes no adjustment files")
    zone, offset = conversions._zone_param(fmt.zone or await site_zone(db, action.site_id))
    retract_word, restate_word = fmt.adjustment_types
    batch = conversions.new_batch(now_ms)
    sql, params = calls_sql(action, fmt)
    rows: list[dict[str, Any]] = []
    async with db.write() as tx:
        sent = await tx.fetchall(
            "SELECT call_id, MIN(click_id) AS click_id, MIN(conversion_ms) AS conversion_ms,"
            " MIN(value) AS value, MIN(currency) AS currency FROM conversion_sent"
            " WHERE action_id = :a AND state = 'sent' GROUP BY call_id ORDER BY call_id",
            {"a": action.id},
        )
        ids = [int(r["call_id"]) for r in sent]
        counting: dict[int, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = {f"id{i}": cid for i, cid in enumerate(chunk)}
            found = await tx.fetchall(
                f"{sql} AND c.id IN ({', '.join(':' + k for k in marks)})", {**params, **marks}
            )
            counting.update({int(r["id"]): r for r in found})
        adjusted_at = datetime.fromtimestamp(now_ms / 1000, zone).strftime(fmt.time_format)
        for s in sent:
            call_id = int(s["call_id"])
            now_row = counting.get(call_id) if action.enabled else None
            if now_row is None:
                kind, word, value = RETRACT, retract_word, ""
            else:
                value = call_value(action, now_row)
                if value == s["value"]:
                    continue
                kind, word = RESTATE, restate_word
            rows.append(
                {
                    "call_id": call_id,
                    "kind": kind,
                    "click": s["click_id"],
                    "name": action.name,
                    "time": datetime.fromtimestamp(s["conversion_ms"] / 1000, zone).strftime(
                        fmt.time_format
                    ),
                    "adjusted_at": adjusted_at,
                    "type": word,
                    "value": value,
                    "currency": s["currency"] if kind == RESTATE else "",
                    "before": s["value"],
                }
            )
        for r in rows:
            if r["kind"] == RETRACT:
                await tx.execute(
                    "UPDATE conversion_sent SET state = 'retracted', adjusted_ms = :t"
                    " WHERE action_id = :a AND call_id = :c",
                    {"t": now_ms, "a": action.id, "c": r["call_id"]},
                )
            else:
                await tx.execute(
                    "UPDATE conversion_sent SET value = :v, adjusted_ms = :t"
                    " WHERE action_id = :a AND call_id = :c",
                    {"v": r["value"], "t": now_ms, "a": action.id, "c": r["call_id"]},
                )
            await tx.execute(
                "INSERT INTO conversion_adjustments (action_id, call_id, kind, value_before,"
                " value_after, batch, at_ms) VALUES (:a, :c, :k, :b4, :after, :batch, :t)",
                {
                    "a": action.id,
                    "c": r["call_id"],
                    "k": r["kind"],
                    "b4": r["before"],
                    "after": r["value"],
                    "batch": batch,
                    "t": now_ms,
                },
            )
        content = _render(fmt, rows, offset)
        filename = f"{action.platform}-adjustments-{batch}.csv"
        return await finish_file(
            tx, action, batch, rows, filename, fmt, content, created_by=created_by, now_ms=now_ms
        )
