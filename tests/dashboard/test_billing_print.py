"""The printed statement (issue #20): Chromium prints the statement page to PDF on A4, in
Japanese, every billed call on the pages and the totals' text in the file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PdfReader

from attribution.billing.money import month_bounds
from tests.dashboard.seed import PASSWORD, add_call_now
from tests.support.dashboard_pages import sign_in_context, start_dashboard_server
from tests.support.server import Server

pytestmark = pytest.mark.e2e

MONTH = "2026-01"
CALLS = 70
A4 = (595, 842)  # points, as Chromium writes an A4 page (210 × 297 mm)


@pytest.fixture(scope="module")
def billing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_dashboard_server(
        tmp_path_factory.mktemp("billing"),
        CALLPATH_BILLING_ISSUER_NAME="メディアポータル株式会社",
        CALLPATH_BILLING_REGISTRATION_NUMBER="T7000012050002",
    )
    seeded = server.seeded  # type: ignore[attr-defined]
    start, _ = month_bounds(MONTH, "Asia/Tokyo")
    for i in range(CALLS):  # one new caller every ten hours, 90 s each: all billed
        at = start + i * 36_000_000
        add_call_now(
            seeded.path,
            advertiser_id=seeded.adv_a,
            site_id=seeded.site_a,
            number_id=seeded.number_a,
            tracking_number=seeded.tracking_a,
            caller=f"+8190{10_000_000 + i}",
            started_ms=at,
            answered_ms=at + 5_000,
            talk_s=90,
        )
    yield server
    server.stop()


def test_the_statement_prints_on_a4_pages_in_japanese_with_its_totals(
    billing_server: Server, browser: Any
) -> None:
    seeded = billing_server.seeded  # type: ignore[attr-defined]
    context = sign_in_context(browser, billing_server, seeded.admin, PASSWORD, locale="ja-JP")
    try:
        page = context.new_page()
        url = f"{billing_server.url}/dashboard/billing/statement?advertiser={seeded.adv_a}"
        response = page.goto(f"{url}&month={MONTH}")
        assert response is not None and response.status == 200
        assert page.get_attribute("html", "lang") == "ja"
        total = page.inner_text("#total")
        # The portal's default plan (tests/dashboard/seed.py): 3,000 a call and 10,000 a
        # month; 70 calls: 220,000, tax 22,000.
        assert (page.inner_text("#taxable"), page.inner_text("#tax"), total) == (
            "¥220,000",
            "¥22,000",
            "¥242,000",
        )
        pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    finally:
        context.close()
    reader = PdfReader(io.BytesIO(pdf))
    assert 2 <= len(reader.pages) <= 4, len(reader.pages)  # 70 lines: more than one page
    for sheet in reader.pages:
        size = (round(float(sheet.mediabox.width)), round(float(sheet.mediabox.height)))
        assert size == A4
    text = "\n".join(sheet.extract_text() for sheet in reader.pages)
    for words in (
        "請求書",
        "消費税",
        "税抜合計",
        "登録番号",
        "T7000012050002",
        "メディアポータル株式会社",
    ):
        assert words in text, words
    assert "¥242,000" in text and "¥22,000" in text and "¥220,000" in text
    # Every line is on the pages, its amount column included (nothing cut at the right).
    assert text.count("¥3,000") == CALLS
    assert "2026-01-29 18:00" in text  # the last call (JST): 690 hours on
    # The dashboard around the statement is not printed.
    assert "ログアウト" not in text and "この月を締める" not in text
