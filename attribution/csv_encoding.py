"""How a CSV download is encoded: one rule for every CSV file people download.

Excel opens a CSV file by double-click in the system's code page: Shift_JIS (cp932) on
Japanese Windows, so a UTF-8 file shows Japanese as mojibake unless it starts with a
byte-order mark. Three encodings are offered:

- ``utf-8``: plain UTF-8, for tools and scripts.
- ``excel`` ("Excel (日本語)"): **Shift_JIS (cp932) when every character of the file fits**,
  which every Excel and every Japanese tool reads; otherwise UTF-8 with a byte-order mark,
  which Excel 2016 and later read too. A streamed export cannot know before its first byte
  whether a row at the end holds an emoji or 𠮷, so the file is held back (up to
  :data:`EXCEL_SJIS_LIMIT` bytes) until it either ends (all fits: Shift_JIS) or meets a
  character cp932 lacks or grows past the limit (UTF-8 with a byte-order mark, the bytes
  held back first, then the rest streamed). Nothing is ever replaced or lost.
- ``sjis``: Shift_JIS (cp932) always, streamed as it is made, for tools that read nothing
  else; a character cp932 lacks is written as :data:`REPLACEMENT` (``?``), counted in
  :attr:`EncodedCsv.replaced` (the CLI reports it; see docs/exports.md).

The text comes in as UTF-8 chunks (what :func:`attribution.exports.stream_paths` writes);
:func:`encode_csv` gives the chunks to send and the charset to name in the media type,
known before the first byte is sent.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from dataclasses import dataclass

CSV_ENCODINGS = ("utf-8", "excel", "sjis")
SJIS = "cp932"  # Microsoft's Shift_JIS: what Excel and Windows read as Shift_JIS
BOM = "\ufeff".encode()
REPLACEMENT = "?"
# How much of an ``excel`` file is held back to learn whether it all fits Shift_JIS.
EXCEL_SJIS_LIMIT = 16 * 1024 * 1024
_CHARSETS = {"utf-8": "utf-8", SJIS: "shift_jis"}


@dataclass
class EncodedCsv:
    """A CSV body in its encoding: ``charset`` is known before the body is sent."""

    encoding: str  # what was asked: utf-8, excel or sjis
    charset: str  # what the bytes are: utf-8 or shift_jis
    body: AsyncIterator[bytes]
    replaced: int = 0  # ``sjis``: characters written as "?" so far (final once sent)

    @property
    def media_type(self) -> str:
        """``text/csv`` with the charset of the bytes."""
        return f"text/csv; charset={self.charset}"


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is one of :data:`CSV_ENCODINGS` (ValueError otherwise)."""
    if encoding not in CSV_ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(CSV_ENCODINGS)}")
    return encoding


def file_suffix(encoding: str) -> str:
    """What a download's file name carries for its encoding ('' for plain UTF-8)."""
    return {"utf-8": "", "excel": "-excel", "sjis": "-sjis"}[check_encoding(encoding)]


def fits_sjis(text: str) -> bool:
    """Whether every character of ``text`` has a Shift_JIS (cp932) code."""
    try:
        text.encode(SJIS)
    except UnicodeEncodeError:
        return False
    return True


def encode_text(text: str, encoding: str) -> tuple[bytes, str]:
    """A whole CSV file held in memory in ``encoding`` by the module's rules (a statement,
    a report table), and the charset its media type names."""
    check_encoding(encoding)
    if encoding == "sjis":
        return text.encode(SJIS, errors="replace"), "shift_jis"  # '?' for what it lacks
    if encoding == "excel" and fits_sjis(text):
        return text.encode(SJIS), "shift_jis"
    return (BOM if encoding == "excel" else b"") + text.encode("utf-8"), "utf-8"


async def encode_csv(
    chunks: AsyncIterator[bytes], encoding: str, *, limit: int = EXCEL_SJIS_LIMIT
) -> EncodedCsv:
    """The UTF-8 CSV ``chunks`` in ``encoding`` (see the module's rules).

    For ``excel`` this reads ahead (up to ``limit`` bytes) before it returns, so the charset
    is decided before anything is sent; ``utf-8`` and ``sjis`` read nothing yet.
    """
    check_encoding(encoding)
    if encoding == "utf-8":
        return EncodedCsv(encoding, "utf-8", chunks)
    if encoding == "sjis":
        out = EncodedCsv(encoding, "shift_jis", chunks)
        out.body = _replacing(chunks, out)
        return out
    decoder = codecs.getincrementaldecoder("utf-8")()
    held: list[bytes] = []  # the UTF-8 read so far
    sjis: list[bytes] = []  # the same text in cp932, while it all fits
    size = 0
    async for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        try:
            sjis.append(decoder.decode(chunk).encode(SJIS))
        except UnicodeEncodeError:
            return EncodedCsv(encoding, "utf-8", _then(BOM, held, chunks))
        if size > limit:
            return EncodedCsv(encoding, "utf-8", _then(BOM, held, chunks))
    sjis.append(decoder.decode(b"", final=True).encode(SJIS))
    return EncodedCsv(encoding, "shift_jis", _then(b"", sjis, None))


async def _then(
    first: bytes, held: list[bytes], rest: AsyncIterator[bytes] | None
) -> AsyncIterator[bytes]:
    """``first`` and the ``held`` chunks as one chunk, then whatever ``rest`` gives."""
    yield first + b"".join(held)
    held.clear()
    if rest is not None:
        async for chunk in rest:
            yield chunk


async def _replacing(chunks: AsyncIterator[bytes], out: EncodedCsv) -> AsyncIterator[bytes]:
    """Each chunk in cp932, a character it lacks written as ``?`` (counted in ``out``)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    async for chunk in chunks:
        yield _sjis(decoder.decode(chunk), out)
    yield _sjis(decoder.decode(b"", final=True), out)


def _sjis(text: str, out: EncodedCsv) -> bytes:
    try:
        return text.encode(SJIS)
    except UnicodeEncodeError:
        pass
    parts = []
    for char in text:
        try:
            parts.append(char.encode(SJIS))
        except UnicodeEncodeError:
            out.replaced += 1
            parts.append(REPLACEMENT.encode())
    return b"".join(parts)
