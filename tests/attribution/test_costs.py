"""Reading the platforms' cost report downloads (attribution.costs)."""

from __future__ import annotations

from datetime import date

import pytest

from attribution import costs
from tests.attribution import cost_files


def test_google_excel_csv_utf16_tabs_preamble_and_totals() -> None:
    parsed = costs.parse(cost_files.google_excel_csv())
    assert parsed.encoding == "utf-16"
    assert parsed.currency == "JPY"
    assert parsed.skipped_summary_rows == 2
    assert [r.cost_micros for r in parsed.rows] == [
        12_000_000_000,
        8_000_000_000,
        5_000_000_000,
        3_000_000_000,
    ]
    first = parsed.rows[0]
    assert first.day == date(2026, 10, 5)
    assert (first.keyword, first.match_type) == ("[歯医者 渋谷]", "e")
    assert (first.campaign, first.campaign_id, first.ad_group) == ("渋谷院", "123456789", "渋谷")
    assert (first.impressions, first.clicks) == (1500, 60)
    assert [r.match_type for r in parsed.rows] == ["e", "e", "p", "b"]
    assert (parsed.first_day, parsed.last_day) == (date(2026, 10, 5), date(2026, 10, 7))


def test_yahoo_shift_jis_with_total_row() -> None:
    parsed = costs.parse(cost_files.yahoo_csv())
    assert parsed.encoding == "cp932"
    assert parsed.skipped_summary_rows == 1
    assert [(r.keyword, r.match_type, r.cost_micros) for r in parsed.rows] == [
        ("歯医者 渋谷", "e", 4_000_000_000),
        ("ホワイトニング", "b", 1_500_000_000),
    ]
    assert parsed.rows[0].campaign_id == "9001"


def test_microsoft_bom_preamble_footer_and_decimal_spend() -> None:
    parsed = costs.parse(cost_files.microsoft_csv())
    assert parsed.encoding == "utf-8-sig"
    assert parsed.skipped_summary_rows == 2  # the total and the copyright line
    (row,) = parsed.rows
    assert row.day == date(2026, 10, 5)  # month/day/year
    assert row.cost_micros == 1_500_500_000  # 1500.50, exactly: no float on the way
    assert row.match_type == "e"


def test_a_report_without_days_is_refused_with_the_way_to_add_them() -> None:
    text = "Campaign,Keyword,Cost\r\nA,dentist,100\r\n"
    with pytest.raises(costs.CostFileError, match="day segment"):
        costs.parse(text.encode())


def test_a_file_without_a_report_header_is_refused() -> None:
    with pytest.raises(costs.CostFileError, match="No report header"):
        costs.parse(b"name,phone\r\nA,0312345678\r\n")


def test_every_bad_row_is_listed_and_nothing_is_kept() -> None:
    text = (
        "Day,Keyword,Cost,Clicks\r\n"
        "2026-10-01,a,100,1\r\n"
        "2026-13-01,b,100,1\r\n"
        "2026-10-02,c,-5,1\r\n"
        "2026-10-03,d,1e3,1\r\n"
        "2026-10-04,e,10,1.5\r\n"
    )
    with pytest.raises(costs.CostFileError) as caught:
        costs.parse(text.encode())
    assert [(row, field) for row, field, _ in caught.value.errors] == [
        (3, "day"),
        (4, "cost"),
        (5, "cost"),
        (6, "clicks"),
    ]


def test_several_currencies_in_one_file_are_refused() -> None:
    text = "Day,Keyword,Cost,Currency code\r\n2026-10-01,a,1,JPY\r\n2026-10-01,b,1,USD\r\n"
    with pytest.raises(costs.CostFileError) as caught:
        costs.parse(text.encode())
    assert caught.value.errors[0][1] == "currency"


def test_too_large_and_undecodable_files_are_refused() -> None:
    with pytest.raises(costs.CostFileError, match="larger"):
        costs.parse(b"x" * (costs.MAX_FILE_BYTES + 1))
    with pytest.raises(costs.CostFileError, match="neither"):
        costs.parse(b"Day,Keyword,Cost\r\n\x81\x20\xff\xfe\x80")


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("[歯医者 渋谷]", "歯医者 渋谷"),
        ('"歯医者　渋谷"', "歯医者 渋谷"),
        ("+Dentist +Shibuya", "dentist shibuya"),
        ("ＤＥＮＴＩＳＴ", "dentist"),
    ],
)
def test_keywords_join_whatever_their_marks_width_and_case(given: str, key: str) -> None:
    assert costs.keyword_key(given) == key
