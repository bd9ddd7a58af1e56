"""CSV downloads for Excel in Japanese (attribution/csv_encoding.py): Shift_JIS when the whole
file fits, UTF-8 with a byte-order mark otherwise, and Shift_JIS with ``?`` on request."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest

from attribution.csv_encoding import BOM, encode_csv, file_suffix, fits_sjis

JAPANESE = "keyword,title\r\nインプラント 費用,料金表｜渋谷の歯医者 ①㈱髙﨑\r\n"


async def _chunks(text: str, size: int = 7) -> AsyncIterator[bytes]:
    data = text.encode()
    for lo in range(0, len(data), size):  # cut inside characters on purpose
        yield data[lo : lo + size]


async def _all(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in body])


async def test_a_japanese_file_round_trips_through_shift_jis_exactly() -> None:
    out = await encode_csv(_chunks(JAPANESE), "excel")
    assert out.charset == "shift_jis" and out.media_type == "text/csv; charset=shift_jis"
    data = await _all(out.body)
    assert not data.startswith(BOM)
    assert data.decode("cp932") == JAPANESE  # NEC and IBM extensions (①, ㈱, 髙, 﨑) too
    rows = list(csv.reader(io.StringIO(data.decode("cp932"))))
    assert rows[1] == ["インプラント 費用", "料金表｜渋谷の歯医者 ①㈱髙﨑"]


@pytest.mark.parametrize("outside", ["😀", "𠮷", "한"])
async def test_a_character_outside_shift_jis_falls_back_to_utf8_with_a_bom(outside: str) -> None:
    text = JAPANESE * 50 + f"late row,{outside}野家\r\n"
    assert not fits_sjis(text)
    out = await encode_csv(_chunks(text, 64), "excel")
    assert out.charset == "utf-8"
    data = await _all(out.body)
    assert data == BOM + text.encode()  # nothing replaced or lost


async def test_past_the_limit_excel_streams_utf8_with_a_bom() -> None:
    text = JAPANESE * 100
    out = await encode_csv(_chunks(text, 50), "excel", limit=200)
    assert out.charset == "utf-8"
    assert await _all(out.body) == BOM + text.encode()


async def test_sjis_replaces_what_it_lacks_with_a_question_mark() -> None:
    out = await encode_csv(_chunks("a,𠮷野家😀\r\nb,歯医者\r\n", 3), "sjis")
    assert out.charset == "shift_jis"
    data = await _all(out.body)
    assert data.decode("cp932") == "a,?野家?\r\nb,歯医者\r\n" and out.replaced == 2


async def test_plain_utf8_is_passed_through_and_unknown_encodings_are_refused() -> None:
    out = await encode_csv(_chunks(JAPANESE), "utf-8")
    assert out.charset == "utf-8" and await _all(out.body) == JAPANESE.encode()
    assert [file_suffix(e) for e in ("utf-8", "excel", "sjis")] == ["", "-excel", "-sjis"]
    with pytest.raises(ValueError, match="excel"):
        await encode_csv(_chunks(""), "cp1252")


async def test_an_empty_file_is_shift_jis() -> None:
    out = await encode_csv(_chunks(""), "excel")
    assert out.charset == "shift_jis" and await _all(out.body) == b""
