"""Ad cost from the platforms' own report downloads: Google Ads, Yahoo! JAPAN and Microsoft.

An ad manager downloads a keyword (or campaign) report segmented by day from the platform's
interface and gives the file to callpath as it is. The files differ in every way that
matters to a parser:

- **Encoding.** Google Ads' "CSV" is UTF-8 and its "Excel CSV" is UTF-16 (little endian,
  with a byte-order mark) separated by tabs; Yahoo! JAPAN's downloads are Shift_JIS
  (Windows code page 932) unless UTF-8 was chosen; Microsoft Advertising writes UTF-8 with
  a byte-order mark. :func:`decode` tells them apart by the byte-order mark, then by strict
  UTF-8, then code page 932.
- **Preamble and footer.** Google writes the report's name and its date range above the
  header; Microsoft writes "Report Name: …", "Report Time: …" lines above it and a
  copyright line below; every platform may add total rows (``Total``, ``合計``). The header
  is the first row that names a day, a cost and a campaign or keyword; summary rows (an
  empty day, or a day cell that starts with a total's word) are skipped and counted.
- **Column names** are the interface's language: ``Cost`` / ``費用`` (Google), ``コスト``
  (Yahoo!), ``Spend`` (Microsoft); :data:`COLUMN_NAMES` knows each.

Money is never a float: costs are parsed with :class:`~decimal.Decimal` into integer
micros of the account's currency (``1,234.5`` → ``1234500000``). The file is checked whole
before anything is stored (:class:`CostFileError` lists every bad row), like number imports.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

# Largest file accepted (bytes): a year of a large account's daily keyword report.
MAX_FILE_BYTES = 64 * 1024 * 1024
# How far down the header may be (Google and Microsoft write a few lines above it).
_HEADER_SEARCH_ROWS = 30
# The errors listed in a refusal (the count says how many there were).
_MAX_ERRORS = 50

# Normalised header name -> field. Names are compared after NFKC, lower-casing and
# collapsing spaces, so "Impr." and "ＩＭＰＲ．" are one name.
COLUMN_NAMES: dict[str, str] = {
    # day
    "day": "day",
    "date": "day",
    "time period": "day",
    "gregorian date": "day",
    "日": "day",
    "日付": "day",
    "日別": "day",
    # campaign
    "campaign": "campaign",
    "campaign name": "campaign",
    "キャンペーン": "campaign",
    "キャンペーン名": "campaign",
    "campaign id": "campaign_id",
    "キャンペーンid": "campaign_id",
    # ad group
    "ad group": "ad_group",
    "ad group name": "ad_group",
    "広告グループ": "ad_group",
    "広告グループ名": "ad_group",
    "ad group id": "ad_group_id",
    "広告グループid": "ad_group_id",
    # keyword
    "keyword": "keyword",
    "search keyword": "keyword",
    "キーワード": "keyword",
    "検索キーワード": "keyword",
    "match type": "match_type",
    "keyword match type": "match_type",
    "search keyword match type": "match_type",
    "delivered match type": "match_type",
    "bid match type": "match_type",
    "マッチタイプ": "match_type",
    "キーワードのマッチタイプ": "match_type",
    "検索キーワードのマッチタイプ": "match_type",
    # figures
    "cost": "cost",
    "spend": "cost",
    "費用": "cost",
    "コスト": "cost",
    "ご利用金額": "cost",
    "clicks": "clicks",
    "クリック数": "clicks",
    "impr.": "impressions",
    "impressions": "impressions",
    "表示回数": "impressions",
    "インプレッション数": "impressions",
    "currency code": "currency",
    "currency": "currency",
    "通貨コード": "currency",
    "通貨": "currency",
}

# Words that start a summary row's first cells (skipped, counted).
_SUMMARY_WORDS = ("total", "合計", "総計", "全体", "©", "(c)")

# Match types as the platforms write them -> callpath's (ValueTrack's {matchtype}: e, p, b).
_MATCH_TYPES: dict[str, str] = {
    "exact": "e",
    "exact match": "e",
    "exact (close variant)": "e",
    "完全一致": "e",
    "phrase": "p",
    "phrase match": "p",
    "phrase (close variant)": "p",
    "フレーズ一致": "p",
    "broad": "b",
    "broad match": "b",
    "部分一致": "b",
    "e": "e",
    "p": "p",
    "b": "b",
}

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%m/%d/%Y",
    "%b %d, %Y",
    "%a, %b %d, %Y",
    "%B %d, %Y",
    "%Y年%m月%d日",
)
_PLAIN_NUMBER = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?")
_NUMBER_NOISE = re.compile(r"[,\s¥￥$€£]|JPY|USD")


class CostFileError(ValueError):
    """The file cannot be imported; ``errors`` are ``(row, field, reason)`` (rows counted from
    1 as a spreadsheet shows them), at most :data:`_MAX_ERRORS` of ``count``."""

    def __init__(self, message: str, errors: list[tuple[int, str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
        self.count = len(self.errors)


@dataclass(frozen=True)
class CostRow:
    """One day of one keyword (or ad group, or campaign) of a platform's report."""

    day: date
    campaign: str
    campaign_id: str
    ad_group: str
    ad_group_id: str
    keyword: str
    match_type: str  # 'e', 'p', 'b' or '' (callpath's, see _MATCH_TYPES)
    impressions: int
    clicks: int
    cost_micros: int


@dataclass
class CostFile:
    """A parsed report: its rows, how it was read, and what was skipped."""

    rows: list[CostRow]
    encoding: str
    currency: str
    skipped_summary_rows: int = 0
    columns: list[str] = field(default_factory=list)

    @property
    def first_day(self) -> date | None:
        """The earliest day in the file."""
        return min((r.day for r in self.rows), default=None)

    @property
    def last_day(self) -> date | None:
        """The latest day in the file."""
        return max((r.day for r in self.rows), default=None)

    @property
    def cost_micros(self) -> int:
        """The file's total cost."""
        return sum(r.cost_micros for r in self.rows)


def decode(content: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with (see the module docstring)."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if content.startswith(bom):
            return content.decode(name), name
    if content[:200].count(b"\x00") > 20:
        # UTF-16 without a byte-order mark: ASCII text has every other byte zero.
        name = "utf-16-le" if content[1:2] == b"\x00" else "utf-16-be"
        return content.decode(name), name
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise CostFileError(
            "The file is neither UTF-8, UTF-16 nor Shift_JIS (cp932); download it again"
            " from the ad platform without editing it."
        ) from exc


def _name(header: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", header).strip().lower().split())


def _header_map(row: list[str]) -> dict[str, int] | None:
    """Field -> column index when ``row`` is a report header, else None."""
    found: dict[str, int] = {}
    for index, cell in enumerate(row):
        name = COLUMN_NAMES.get(_name(cell))
        if name is not None and name not in found:
            found[name] = index
    if "cost" in found and ("campaign" in found or "keyword" in found):
        return found
    return None


def _dialect(text: str) -> str:
    # Tabs in the first lines mean Google's "Excel CSV" (UTF-16, tab separated).
    head = text[:4096]
    return "\t" if head.count("\t") > head.count(",") else ","


def _parse_day(value: str) -> date:
    cleaned = unicodedata.normalize("NFKC", value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date")


def _parse_amount(value: str, *, integer: bool) -> Decimal:
    cleaned = _NUMBER_NOISE.sub("", unicodedata.normalize("NFKC", value))
    if cleaned in {"", "-", "--", "—"}:
        return Decimal(0)
    if not _PLAIN_NUMBER.fullmatch(cleaned):
        # Platforms write plain decimals; "1e3", "-5" or "NaN" is not a figure of theirs.
        raise ValueError(f"{value!r} is not a plain positive number")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{value!r} is not a number") from exc
    if integer and amount != amount.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return amount


def match_type(value: str) -> str:
    """callpath's match type (``e``, ``p``, ``b``) for a platform's or ValueTrack's name
    ('' when unknown or empty)."""
    return _MATCH_TYPES.get(_name(value), "")


_KEYWORD_MARKS = re.compile(r'[\[\]"+]')


def keyword_key(value: str) -> str:
    """A keyword as reports join it: NFKC, lower case, without match-type marks (``[…]``,
    ``"…"``, ``+``) and with single spaces, so a report's ``[歯医者 渋谷]`` joins the
    ``歯医者　渋谷`` a visit's ValueTrack ``{keyword}`` carried."""
    cleaned = _KEYWORD_MARKS.sub(" ", unicodedata.normalize("NFKC", value).lower())
    return " ".join(cleaned.split())


def _is_summary(cells: list[str], day_index: int) -> bool:
    day = cells[day_index].strip() if day_index < len(cells) else ""
    first = next((c.strip() for c in cells if c.strip()), "")
    if not first:
        return True
    lowered = _name(first)
    return not day or lowered.startswith(_SUMMARY_WORDS) or _name(day).startswith(_SUMMARY_WORDS)


def parse(content: bytes) -> CostFile:
    """Read a platform's report download whole (see the module docstring).

    Raises :class:`CostFileError` when the file is too large, has no header, has no day
    column (a report must be segmented by day) or any row does not read; nothing of a
    refused file is kept.
    """
    if len(content) > MAX_FILE_BYTES:
        raise CostFileError(f"The file is larger than {MAX_FILE_BYTES} bytes.")
    text, encoding = decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text))
    columns: dict[str, int] | None = None
    header_row = 0
    try:
        for number, cells in enumerate(reader, start=1):
            columns = _header_map(cells)
            if columns is not None:
                header_row = number
                header_cells = cells
                break
            if number >= _HEADER_SEARCH_ROWS:
                break
        if columns is None:
            raise CostFileError(
                "No report header found: the file needs a cost column (Cost / 費用 / コスト /"
                " Spend) and a campaign or keyword column."
            )
        if "day" not in columns:
            raise CostFileError(
                "The report has no day column: add the day segment (Google Ads: Segment ›"
                " Time › Day; Yahoo! JAPAN: 集計期間 日別; Microsoft: Time › Day) and download"
                " it again."
            )
        rows: list[CostRow] = []
        errors: list[tuple[int, str, str]] = []
        currencies: set[str] = set()
        skipped = 0
        for number, cells in enumerate(reader, start=header_row + 1):
            if not any(c.strip() for c in cells) or _is_summary(cells, columns["day"]):
                skipped += any(c.strip() for c in cells)
                continue
            row, row_errors = _row(cells, columns)
            errors.extend((number, f, reason) for f, reason in row_errors)
            if row is not None:
                rows.append(row)
            if "currency" in columns and columns["currency"] < len(cells):
                currencies.add(cells[columns["currency"]].strip().upper())
    except csv.Error as exc:
        raise CostFileError(f"The file is not CSV: {exc}") from exc
    currencies.discard("")
    if len(currencies) > 1:
        errors.append((0, "currency", f"several currencies in one file: {sorted(currencies)}"))
    if errors:
        error = CostFileError(
            f"{len(errors)} problem(s) in the file; nothing was imported.", errors[:_MAX_ERRORS]
        )
        error.count = len(errors)
        raise error
    if not rows:
        raise CostFileError("The report has no rows of cost.")
    names = [_name(header_cells[i]) for i in sorted(columns.values())]
    return CostFile(
        rows=rows,
        encoding=encoding,
        currency=currencies.pop() if currencies else "",
        skipped_summary_rows=skipped,
        columns=names,
    )


def _row(cells: list[str], columns: dict[str, int]) -> tuple[CostRow | None, list[tuple[str, str]]]:
    """One data row and the problems found in it."""

    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    problems: list[tuple[str, str]] = []
    values: dict[str, object] = {}
    try:
        values["day"] = _parse_day(cell("day"))
    except ValueError as exc:
        problems.append(("day", str(exc)))
    for name, integer in (("cost", False), ("clicks", True), ("impressions", True)):
        try:
            values[name] = _parse_amount(cell(name), integer=integer)
        except ValueError as exc:
            problems.append((name, str(exc)))
    texts = {
        name: unicodedata.normalize("NFKC", cell(name))[:500]
        for name in ("campaign", "campaign_id", "ad_group", "ad_group_id", "keyword")
    }
    if not (texts["campaign"] or texts["campaign_id"] or texts["keyword"]):
        problems.append(("campaign", "no campaign and no keyword"))
    if problems:
        return None, problems
    cost = values["cost"]
    assert isinstance(cost, Decimal)
    day = values["day"]
    assert isinstance(day, date)
    return (
        CostRow(
            day=day,
            match_type=match_type(cell("match_type")),
            impressions=int(values["impressions"]),  # type: ignore[call-overload]
            clicks=int(values["clicks"]),  # type: ignore[call-overload]
            cost_micros=int((cost * 1_000_000).to_integral_value()),
            **texts,
        ),
        [],
    )
