"""The one way a CSV or NDJSON download leaves the server, whoever asks (dashboard, API).

A CSV body goes through :func:`attribution.csv_encoding.encode_csv` (``utf-8``, ``excel``
or ``sjis``), which decides the charset named in the media type before the first byte;
the file name says the encoding (``…-excel.csv``, ``…-sjis.csv``). NDJSON is data for
programs: always UTF-8, whatever encoding was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from starlette.responses import Response, StreamingResponse

from attribution.csv_encoding import encode_csv, file_suffix

NDJSON = "application/x-ndjson"


async def download(
    chunks: AsyncIterator[bytes], *, stem: str, fmt: str = "csv", encoding: str = "utf-8"
) -> StreamingResponse:
    """A streamed attachment ``<stem>[-excel|-sjis].<fmt>`` of UTF-8 ``chunks``."""
    headers = {"Cache-Control": "no-store"}
    if fmt != "csv":
        headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
        return StreamingResponse(chunks, media_type=NDJSON, headers=headers)
    encoded = await encode_csv(chunks, encoding)
    headers["Content-Disposition"] = f'attachment; filename="{stem}{file_suffix(encoding)}.csv"'
    return StreamingResponse(encoded.body, media_type=encoded.media_type, headers=headers)


class WholeFile(Protocol):
    """A file made whole before it is sent (a conversion file, a recorded batch's file)."""

    @property
    def filename(self) -> str: ...
    @property
    def media_type(self) -> str: ...
    @property
    def content(self) -> bytes: ...


def attachment(
    content: bytes, *, filename: str, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as a download named ``filename``, with ``headers`` besides."""
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})},
    )


def file_download(file: WholeFile, headers: Mapping[str, str] | None = None) -> Response:
    """A whole file as a download under its own name and media type."""
    return attachment(
        file.content, filename=file.filename, media_type=file.media_type, headers=headers
    )
