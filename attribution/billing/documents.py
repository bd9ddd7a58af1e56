"""A statement as a CSV file (issue #20): the same document the page prints, one row per
billed call, then adjustments and totals, written by the one CSV writer
(:mod:`attribution.csvcells`: no cell runs as a formula; ``excel`` adds the byte-order mark
Excel needs to read Japanese).

The file is made from the statement's document alone, so a closed statement's file is the
same, byte for byte, whenever it is downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from attribution.csv_encoding import encode_text
from attribution.csvcells import csv_writer

# The words of the file; the dashboard passes its own translations of the same keys.
WORDS: dict[str, str] = {
    "statement": "Statement",
    "advertiser": "Advertiser",
    "month": "Month",
    "issuer": "Issuer",
    "registration_number": "Registration number",
    "at": "Date",
    "kind": "Kind",
    "id": "Id",
    "tracking_number": "Tracking number",
    "source": "Source",
    "medium": "Medium",
    "talk_s": "Talk (s)",
    "minutes": "Minutes",
    "amount": "Amount",
    "adjustment": "Adjustment",
    "for_month": "For month",
    "reason": "Reason",
    "usage": "Calls",
    "cap_reduction": "Over the cap",
    "fee": "Monthly fee",
    "adjustments": "Adjustments",
    "taxable": "Taxable total",
    "tax": "Consumption tax",
    "total": "Total",
}


def statement_csv(
    body: Mapping[str, Any], *, encoding: str = "utf-8", words: Mapping[str, str] = WORDS
) -> tuple[bytes, str]:
    """The statement as CSV bytes and their charset (``encoding``: one of
    :data:`attribution.csv_encoding.CSV_ENCODINGS`, by that module's one rule)."""
    w = {**WORDS, **words}
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow([w["statement"], body["month"], body["currency"]])
    writer.writerow([w["advertiser"], body["advertiser"]["name"]])
    writer.writerow([w["issuer"], body["issuer"]["name"]])
    writer.writerow([w["registration_number"], body["issuer"]["registration_number"]])
    writer.writerow([])
    columns = ("at", "kind", "id", "tracking_number", "source", "medium", "talk_s", "minutes")
    writer.writerow([w[c] for c in columns] + [w["amount"]])
    for line in body["lines"]:
        writer.writerow([line[c] for c in columns] + [line["amount_yen"]])
    if body["adjustments"]:
        writer.writerow([])
        writer.writerow([w["adjustment"], w["for_month"], w["at"], w["reason"], w["amount"]])
        for adj in body["adjustments"]:
            writer.writerow(
                [adj["key"], adj["for_month"], adj["at"], adj["reason"], adj["amount_yen"]]
            )
    writer.writerow([])
    writer.writerow([w["usage"], body["usage_yen"]])
    writer.writerow([w["cap_reduction"], -int(body["cap_reduction_yen"])])
    writer.writerow([w["fee"], body["fee_yen"]])
    writer.writerow([w["adjustments"], body["adjustments_yen"]])
    writer.writerow([w["taxable"], body["taxable_yen"]])
    writer.writerow([f"{w['tax']} ({body['tax_percent']}%)", body["tax_yen"]])
    writer.writerow([w["total"], body["total_yen"]])
    return encode_text(out.getvalue(), encoding)
