"""The tables of the reports page as data: the report by one to three dimensions (with
subtotals and the previous period), the hour × weekday heat map and the answer rate per
branch.

One model per table feeds both the page (``_report_table.html``) and its CSV download
(:func:`csv_bytes`), so a download is exactly the table on the screen: the same rows, in
the same order, with the same headers and words; counts and changes are written as plain
numbers (a change in % as a number of percent), rates as the page shows them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from attribution.csv_encoding import encode_text
from attribution.csvcells import csv_writer
from attribution.exports import DRILL_DIMENSIONS, NO_SESSION_DRILL
from attribution.report_dimensions import change, count_rows, walk
from attribution.report_tables import HOURS, WEEKDAYS
from backend.dashboard import fmt, i18n
from backend.dashboard.i18n import N_

Translate = Callable[[str], str]

# The tables of the reports pages (the ``table`` of a CSV download): the reports page's
# three, and the per-advertiser billing counts of /dashboard/advertisers.
TABLES = ("report", "heatmap", "targets", "advertisers")
WEEKDAY_IDS = (
    N_("weekday.mon"),
    N_("weekday.tue"),
    N_("weekday.wed"),
    N_("weekday.thu"),
    N_("weekday.fri"),
    N_("weekday.sat"),
    N_("weekday.sun"),
)
# The counts compared with the previous period when asked.
COMPARED = ("calls", "qualified_calls")
_COLUMN_IDS = {
    "sessions": N_("col.sessions"),
    "calls": N_("col.calls"),
    "qualified_calls": N_("col.qualified"),
    "first_time_callers": N_("col.first_time"),
    "conversion_rate": N_("col.conversion"),
}
HEAT_LEVELS = 4


@dataclass
class Column:
    """A column: its header, how its cells read (``key``, ``int``, ``rate``, ``diff``,
    ``pct``), and the report column it sorts by (None: not sortable)."""

    label: str
    kind: str
    sort: str | None = None


@dataclass
class Cell:
    """One cell: its value, the words shown for a key, a link, and its heat level."""

    value: Any
    text: str = ""
    link: str = ""
    muted: bool = False
    heat: int = -1  # 0..HEAT_LEVELS on the heat map, -1 elsewhere


@dataclass
class Line:
    """A row: its cells, and whether it is a subtotal of the rows after it."""

    cells: list[Cell]
    subtotal: bool = False
    depth: int = 0
    no_session: bool = False  # the row of the calls without a web session


@dataclass
class Table:
    """A table of the reports page."""

    name: str
    caption: str
    columns: list[Column]
    lines: list[Line] = field(default_factory=list)
    foot: list[Cell] = field(default_factory=list)
    # Header cells of the rows (the heat map's weekdays): `<th scope="row">`.
    row_headers: bool = False
    # Rows of the whole table when only the first of them are in ``lines`` (0: all are).
    rows_total: int = 0


def key_text(t: Translate, dimension: str, key: str) -> str:
    """How a report key reads: a landing page decoded, channels and match types in words,
    '(none)' for nothing."""
    if key and dimension == "landing_page":
        return fmt.url_text(key)
    return i18n.value_label(t, dimension, key)


def _pct(rate: float | None) -> str:
    if rate is None:
        return "—"
    return ("+" if rate > 0 else "") + fmt.percent(rate)


def _metric_cells(row: dict[str, Any], compare: bool) -> list[Cell]:
    cells = [Cell(row[c]) for c in _COLUMN_IDS]
    if compare:
        for name in COMPARED:
            before = row.get("previous", {}).get(name, 0)
            diff, rate = change(row[name], before)
            cells += [Cell(before), Cell(diff), Cell(rate, text=_pct(rate))]
    return cells


def _metric_columns(t: Translate, compare: bool) -> list[Column]:
    cols = [
        Column(t(label), "rate" if c == "conversion_rate" else "int", c)
        for c, label in _COLUMN_IDS.items()
    ]
    if compare:
        before, diff, pct = t("reports.previous"), t("reports.change"), t("reports.change_pct")
        for name in COMPARED:
            what = t(_COLUMN_IDS[name])
            cols += [
                Column(f"{what}: {before}", "int"),
                Column(f"{what}: {diff}", "diff"),
                Column(f"{what}: {pct}", "pct"),
            ]
    return cols


def report_table(
    t: Translate,
    *,
    dimensions: tuple[str, ...],
    rows: list[dict[str, Any]],
    totals: dict[str, Any],
    compare: bool,
    drill_link: Callable[[tuple[tuple[str, str], ...]], str],
    limit: int | None = None,
) -> Table:
    """The report by ``dimensions``: one key column per dimension, a subtotal row before
    the rows of each group, the previous period's columns when ``compare``.

    ``limit``: lines for the first groups of the first dimension only (whole, with their
    subtotals) until at least that many (and the row of the calls without a web session);
    ``rows_total`` then says how many rows the whole report has. None: every row (what a
    download writes).

    ``totals``: the footer's counts (with ``previous`` when comparing). ``drill_link(pairs)``:
    the call log's address of the calls of a row, from its (dimension, key) pairs; the link
    is on the row's own key (not for landing pages, which the call log cannot narrow to).
    """
    columns = [
        Column(i18n.label(t, "dim", d), "key", "key" if i == 0 else None)
        for i, d in enumerate(dimensions)
    ]
    table = Table(
        "report", i18n.label(t, "dim", dimensions[0]), columns + _metric_columns(t, compare)
    )
    levels = len(dimensions)
    if limit is not None:
        rows = _first_groups(rows, limit, table)
    for path, row in walk(rows):
        if row.get("no_session"):
            # No session, no value of any dimension: one row, linked to exactly its calls.
            words = t("reports.no_session")
            first = Cell("", words, drill_link((NO_SESSION_DRILL,)))
            blanks = [Cell("", "") for _ in dimensions[1:]]
            table.lines.append(
                Line([first, *blanks, *_metric_cells(row, compare)], no_session=True)
            )
            continue
        depth = len(path) - 1
        keys: list[Cell] = []
        pairs = tuple(zip(dimensions, path, strict=False))
        linked = all(d in DRILL_DIMENSIONS for d, _ in pairs)
        for i, d in enumerate(dimensions):
            if i < len(path):
                link = drill_link(pairs) if linked and i == depth else ""
                # A row's parent keys are repeated (a download stands alone) but muted.
                keys.append(Cell(path[i], key_text(t, d, path[i]), link, muted=i < depth))
            elif i == len(path):
                keys.append(Cell(t("reports.subtotal"), t("reports.subtotal"), muted=True))
            else:
                keys.append(Cell("", ""))
        table.lines.append(
            Line(keys + _metric_cells(row, compare), subtotal=depth < levels - 1, depth=depth)
        )
    foot = [Cell(t("total"), t("total"))] + [Cell("", "") for _ in dimensions[1:]]
    table.foot = foot + _metric_cells(totals, compare)
    return table


def _first_groups(rows: list[dict[str, Any]], limit: int, table: Table) -> list[dict[str, Any]]:
    """The first top-level rows whose lines (with their children's) reach ``limit``, and
    the row of the calls without a web session (the footer's totals count it); sets
    ``table.rows_total`` when rows are left out."""
    shown: list[dict[str, Any]] = []
    lines = 0
    for i, row in enumerate(rows):
        if lines >= limit:
            shown += [r for r in rows[i:] if r.get("no_session")]
            table.rows_total = count_rows(rows)
            break
        shown.append(row)
        lines += count_rows([row])
    return shown


def heat_level(n: int, top: int) -> int:
    """0 for no calls, else 1..HEAT_LEVELS by the share of the busiest cell."""
    if n <= 0 or top <= 0:
        return 0
    return max(1, -(-n * HEAT_LEVELS // top))


def heatmap_table(t: Translate, grid: list[list[int]]) -> Table:
    """Weekdays (rows, Monday first) × hours (columns) with row and column totals."""
    columns = [Column(t("reports.weekday"), "key")]
    columns += [Column(f"{h}:00", "int") for h in range(HOURS)] + [Column(t("total"), "int")]
    table = Table("heatmap", t("reports.heatmap"), columns, row_headers=True)
    top = max((n for row in grid for n in row), default=0)
    for day in range(WEEKDAYS):
        name = t(WEEKDAY_IDS[day])
        cells = [Cell(name, name)]
        cells += [Cell(n, heat=heat_level(n, top)) for n in grid[day]]
        table.lines.append(Line([*cells, Cell(sum(grid[day]))]))
    per_hour = [sum(grid[d][h] for d in range(WEEKDAYS)) for h in range(HOURS)]
    table.foot = [Cell(t("total"), t("total"))] + [Cell(n) for n in per_hour]
    table.foot.append(Cell(sum(per_hour)))
    return table


def targets_table(t: Translate, rows: list[dict[str, Any]]) -> Table:
    """Calls, answered, missed and the answer rate per branch, with totals."""
    columns = [
        Column(t("col.branch"), "key"),
        Column(t("col.calls"), "int"),
        Column(t("col.answered"), "int"),
        Column(t("reports.missed"), "int"),
        Column(t("reports.answer_rate"), "rate"),
    ]
    table = Table("targets", t("reports.targets"), columns)
    for r in rows:
        name = r["key"] or t("none")
        table.lines.append(
            Line(
                [
                    Cell(r["key"], name, muted=not r["key"]),
                    Cell(r["calls"]),
                    Cell(r["answered"]),
                    Cell(r["missed"]),
                    Cell(r["answer_rate"]),
                ]
            )
        )
    calls = sum(r["calls"] for r in rows)
    answered = sum(r["answered"] for r in rows)
    rate = round(answered / calls, 4) if calls else 0.0
    table.foot = [
        Cell(t("total"), t("total")),
        Cell(calls),
        Cell(answered),
        Cell(sum(r["missed"] for r in rows)),
        Cell(rate),
    ]
    return table


def advertisers_table(t: Translate, rows: list[dict[str, Any]]) -> Table:
    """Calls, answered, qualified, first-time callers and talk minutes per advertiser."""
    columns = [
        Column(t("filter.advertiser"), "key"),
        Column(t("col.calls"), "int"),
        Column(t("col.answered"), "int"),
        Column(t("col.qualified"), "int"),
        Column(t("col.first_time"), "int"),
        Column(t("col.talk_minutes"), "minutes"),
    ]
    table = Table("advertisers", t("advertisers.title"), columns)
    for r in rows:
        counts = ("calls", "answered_calls", "qualified_calls", "first_time_callers")
        cells = [Cell(r["name"], r["name"]), *(Cell(r[c]) for c in counts)]
        table.lines.append(Line([*cells, Cell(r["talk_minutes"])]))
    return table


def shown(column: Column, cell: Cell) -> str:
    """A cell as the page shows it (the CSV writes integers as integers instead)."""
    if cell.text or column.kind == "key":
        return cell.text
    if column.kind == "rate":
        return fmt.percent(cell.value)
    if column.kind == "diff":
        return ("+" if cell.value > 0 else "") + fmt.number(cell.value)
    if column.kind == "minutes":
        return str(cell.value)
    return fmt.number(cell.value)


def _csv_cell(column: Column, cell: Cell) -> Any:
    # Counts and changes as numbers, a relative change as a number of percent (a signed
    # "+20.0%" would read as a formula and be escaped as text); "—" stays "—".
    if column.kind in ("int", "diff") and not cell.text:
        return int(cell.value)
    if column.kind == "pct" and cell.value is not None:
        return round(cell.value * 100, 1)
    if column.kind == "minutes":
        return cell.value
    return shown(column, cell)


def csv_rows(table: Table) -> Iterable[list[Any]]:
    """The table's header, rows and total row as CSV rows."""
    yield [c.label for c in table.columns]
    for line in [*(ln.cells for ln in table.lines), *([table.foot] if table.foot else [])]:
        yield [_csv_cell(col, cell) for col, cell in zip(table.columns, line, strict=True)]


def csv_bytes(table: Table, encoding: str) -> tuple[bytes, str]:
    """The whole table as a CSV file and its charset (``encoding``: as the call log's
    downloads, :mod:`attribution.csv_encoding`; every text cell made safe for spreadsheets)."""
    out = io.StringIO()
    writer = csv_writer(out)
    for row in csv_rows(table):
        writer.writerow(row)
    return encode_text(out.getvalue(), encoding)
