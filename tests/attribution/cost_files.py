"""Cost report downloads as the platforms write them (encodings, preambles, totals).

Written from the platforms' downloads: Google Ads' "Excel CSV" (UTF-16 with a byte-order
mark, tab separated, the report's name and date range above the header, ``Total:`` rows
below), Yahoo! JAPAN search ads' CSV (Shift_JIS, Japanese headers, a 合計 row) and
Microsoft Advertising's CSV (UTF-8 with a byte-order mark, ``Report Name:`` lines above,
a copyright line below).
"""

from __future__ import annotations

import codecs

GOOGLE_ROWS = [
    # Day, Keyword, Match type, Campaign, Campaign ID, Ad group, Currency, Cost, Impr., Clicks
    (
        "2026-10-05",
        "[歯医者 渋谷]",
        "Exact match",
        "渋谷院",
        "123456789",
        "渋谷",
        "12,000",
        "1,500",
        "60",
    ),
    (
        "2026-10-06",
        "[歯医者 渋谷]",
        "Exact match",
        "渋谷院",
        "123456789",
        "渋谷",
        "8,000",
        "1,000",
        "40",
    ),
    (
        "2026-10-06",
        '"歯医者 渋谷"',
        "Phrase match",
        "渋谷院",
        "123456789",
        "渋谷",
        "5,000",
        "900",
        "20",
    ),
    (
        "2026-10-07",
        "インプラント",
        "Broad match",
        "渋谷院",
        "123456789",
        "渋谷",
        "3,000",
        "400",
        "9",
    ),
]


def google_excel_csv() -> bytes:
    """A Google Ads keyword report downloaded as "Excel CSV"."""
    lines = [
        "Search keyword report",
        "October 1, 2026 - October 31, 2026",
        "\t".join(
            [
                "Day",
                "Search keyword",
                "Search keyword match type",
                "Campaign",
                "Campaign ID",
                "Ad group",
                "Currency code",
                "Cost",
                "Impr.",
                "Clicks",
            ]
        ),
    ]
    for day, kw, match, campaign, cid, group, cost, impr, clicks in GOOGLE_ROWS:
        lines.append("\t".join([day, kw, match, campaign, cid, group, "JPY", cost, impr, clicks]))
    lines.append("\t".join(["Total: Account", "", "", "", "", "", "JPY", "28,000", "3,800", "129"]))
    lines.append("\t".join(["Total: Search", "", "", "", "", "", "JPY", "28,000", "3,800", "129"]))
    return codecs.BOM_UTF16_LE + "\r\n".join(lines).encode("utf-16-le") + b"\r\x00\n\x00"


def yahoo_csv() -> bytes:
    """A Yahoo! JAPAN search ads keyword report (daily), as downloaded: Shift_JIS."""
    text = (
        "日,キャンペーンID,キャンペーン名,広告グループ名,キーワード,マッチタイプ,"
        "インプレッション数,クリック数,コスト\r\n"
        '2026/10/05,9001,渋谷院,渋谷,歯医者 渋谷,完全一致,800,40,"4,000"\r\n'
        "2026/10/06,9001,渋谷院,渋谷,ホワイトニング,部分一致,300,7,1500\r\n"
        '合計,--,--,--,--,--,1100,47,"5,500"\r\n'
    )
    return text.encode("cp932")


def microsoft_csv() -> bytes:
    """A Microsoft Advertising keyword report: UTF-8 with a byte-order mark."""
    text = (
        '"Report Name: Keyword report"\r\n'
        '"Report Time: 10/1/2026 - 10/31/2026"\r\n'
        '"Time Zone: (GMT+09:00) Osaka, Sapporo, Tokyo"\r\n'
        '"Rows: 1"\r\n'
        "\r\n"
        '"Day","Campaign name","Ad group","Keyword","Delivered match type","Impr.","Clicks",'
        '"Spend","Currency code"\r\n'
        '"10/05/2026","Shibuya","Dental","dentist shibuya","Exact","120","6","1500.50","JPY"\r\n'
        '"Total","","","","","120","6","1500.50",""\r\n'
        '"©2026 Microsoft Corporation. All rights reserved. "\r\n'
    )
    return codecs.BOM_UTF8 + text.encode("utf-8")
