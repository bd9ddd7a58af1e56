"""Every CSV file callpath writes goes through here, so no cell can run as a formula.

A spreadsheet opening a CSV file runs a cell that starts with ``=``, ``+``, ``-`` or ``@``
as a formula (``=HYPERLINK(…)`` sends data away, ``=1+cmd|' /C calc'!A0`` asks to start
a program through DDE), and some also after a leading tab or carriage return. Much of what
callpath exports comes from outside: page titles, URLs and keywords from visitors'
browsers, the caller's number from the carrier (a ``From`` of ``=HYPERLINK(…)`` reached a
member's export as is), settings from users. So every text cell of every CSV file
(:func:`csv_writer`) goes through :func:`cell_safe`, which puts a ``'`` in front of such a
cell: spreadsheets show the text, and anyone reading the file as data can strip it.

A cell that is only a signed number or phone number (``-5``, ``+1.5``, ``+81312345678``,
a masked caller ``+81******5678``: ``+`` or ``-``, a digit, then digits, ``.`` and ``*``)
is left alone: a spreadsheet can do nothing with it but arithmetic, and escaping it would
change numbers people read and tools parse. Numbers written as numbers (``int``) are not
text and are never touched. See docs/exports.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

FORMULA_START = frozenset("=+-@\t\r")
_INERT = re.compile(r"[+-][0-9][0-9.*]*")
# A cell after the first that may start a formula, read in CSV text as the csv module
# writes it: it follows a delimiter, opened by a quote if it is quoted (an inert number
# never is), and an unquoted one ends at a delimiter or the line end. Every such cell that
# :func:`cell_safe` changes is found, and a few it leaves alone (a quoted "+1", a
# formula-like line inside a quoted cell), which only cost a second, exact pass. One
# literal first character keeps the scan fast.
_MAY_RUN = re.compile(r',(?:"[=+\-@\t\r]|[=@\t\r]|[+-](?![0-9][0-9.*]*(?:,|\r\n)))')


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def cell_safe(value: str) -> str:
    """``value`` as a spreadsheet will show it rather than run it: ``=cmd()`` → ``'=cmd()``.

    Unchanged unless it starts with ``= + - @``, a tab or a carriage return, and a signed
    number or phone number (``-5``, ``+81312345678``) is unchanged too.
    """
    if value and value[0] in FORMULA_START and _INERT.fullmatch(value) is None:
        return "'" + value
    return value


def safe_cells(row: Iterable[Any]) -> list[Any]:
    """The row with every text cell through :func:`cell_safe` (other values as they are)."""
    # Exports write millions of cells: the common cell is decided by one slice and one set
    # lookup, without a call.
    return [cell_safe(v) if type(v) is str and v[:1] in FORMULA_START else v for v in row]


class SafeWriter:
    """A :func:`csv.writer` (``\\r\\n`` line ends) that escapes every text cell it writes."""

    def __init__(self, out: _Writable) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row, its text cells made safe first."""
        self._writer.writerow(safe_cells(row))


def csv_rows(rows: Sequence[Sequence[Any]]) -> str:
    """Many rows as CSV text, exactly as :meth:`SafeWriter.writerow` writes them one by one.

    For exports of millions of rows. Rows of text cells that need no quotes (no delimiter,
    quote or line break in any cell) are joined as they are; others go through the csv
    module, all at once. Only when the text may hold a cell to escape (one scan of it) are
    the rows written again, each cell through :func:`safe_cells`.
    """
    text = _joined(rows)
    if text is None:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(rows)
        text = out.getvalue()
    if _MAY_RUN.search(text) is None and not any(
        type(row[0]) is str and row[0][:1] in FORMULA_START for row in rows if row
    ):
        return text
    out = io.StringIO()
    writer = csv_writer(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _joined(rows: Sequence[Sequence[Any]]) -> str | None:
    """The rows as the csv module writes them when every cell is text that needs no quotes:
    the cells joined by delimiters (None when that is not so)."""
    if not rows or min(map(len, rows)) < 2:  # a row of one empty cell is written ""
        return None
    try:
        text = "\r\n".join([",".join(row) for row in rows]) + "\r\n"
    except TypeError:  # not every cell is text
        return None
    # No cell holds a delimiter, a quote or a line break: nothing is quoted.
    lines = len(rows)
    if (
        '"' in text
        or text.count(",") != sum(map(len, rows)) - lines
        or text.count("\n") != lines
        or text.count("\r") != lines
    ):
        return None
    return text


def csv_writer(out: _Writable) -> SafeWriter:
    """The one way callpath writes CSV: rows to ``out`` with every text cell made safe."""
    return SafeWriter(out)
