"""Reading tracking numbers from CSV (``callpath numbers import``, ``POST /api/numbers/import``).

The format (documented in ``docs/numbers.md``): a header row naming columns, then one number
per row. Columns: ``number`` (required), ``kind``, ``site``, ``target``, ``forward_to``,
``label``; their order is free, names are case-insensitive, unknown columns are refused.
Rows are numbered as lines of the file (the header is line 1), and every error names one.
"""

from __future__ import annotations

import csv
import io

from pool.inventory import MAX_ROWS, InventoryError, NumberSpec, RowError

COLUMNS = ("number", "kind", "site", "target", "forward_to", "label")
MAX_FIELD = 200
MAX_BYTES = 2_000_000


def decode(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (with or without BOM), else Shift_JIS as Excel in Japan saves."""
    if len(data) > MAX_BYTES:
        raise InventoryError([RowError(1, "", f"file is larger than {MAX_BYTES} bytes")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError as exc:
        raise InventoryError([RowError(1, "", "file is neither UTF-8 nor Shift_JIS")]) from exc


def parse_csv(text: str, *, site: str = "") -> list[NumberSpec]:
    """Every row of a numbers CSV as a :class:`NumberSpec`, or :class:`InventoryError`.

    ``site`` fills the site column where it is missing or empty. Malformed rows (too many
    fields, overlong fields, blank number) are reported together, by line.
    """
    specs, errors = read_csv(text, site=site)
    if errors:
        raise InventoryError(errors)
    return specs


def read_csv(text: str, *, site: str = "") -> tuple[list[NumberSpec], list[RowError]]:
    """The well-formed rows of a numbers CSV, and the malformed ones as errors.

    Pass both to :func:`pool.inventory.add_numbers` (``errors=``) so a person sees every
    problem of a file at once. A bad header or an empty file raises :class:`InventoryError`.
    """
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[RowError] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InventoryError([RowError(1, "", f"unreadable header: {exc}")]) from exc
    if header is None:
        raise InventoryError([RowError(1, "", "the file is empty; a header row is expected")])
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown or "number" not in names or len(set(names)) != len(names):
        reason = (
            f"unknown column(s) {', '.join(map(repr, unknown))}"
            if unknown
            else "a 'number' column is required"
            if "number" not in names
            else "a column is named twice"
        )
        raise InventoryError([RowError(1, "header", f"{reason}; columns: {', '.join(COLUMNS)}")])
    specs: list[NumberSpec] = []
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, "", f"malformed CSV: {exc}"))
            break
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # blank lines are tolerated
        if len(specs) + len(errors) >= MAX_ROWS:
            errors.append(RowError(line, "", f"more than {MAX_ROWS} rows"))
            break
        if len(fields) != len(names):
            errors.append(
                RowError(line, "", f"{len(fields)} fields where the header has {len(names)}")
            )
            continue
        values = dict(zip(names, (f.strip() for f in fields), strict=True))
        long = [n for n, v in values.items() if len(v) > MAX_FIELD]
        if long:
            errors.append(RowError(line, long[0], f"longer than {MAX_FIELD} characters"))
            continue
        if not values.get("number"):
            errors.append(RowError(line, "number", "the number is empty"))
            continue
        specs.append(
            NumberSpec(
                number=values["number"],
                kind=values.get("kind") or "pool",
                site=values.get("site") or site,
                target=values.get("target", ""),
                forward_to=values.get("forward_to", ""),
                label=values.get("label", ""),
                row=line,
            )
        )
    if not specs and not errors:
        raise InventoryError([RowError(line, "", "no numbers in the file")])
    return specs, errors
