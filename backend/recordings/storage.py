"""Where recordings are kept: a local folder (default) or an S3-compatible bucket.

Both answer the same three calls (:class:`RecordingStorage`), so the fetch, the player and
retention never know which one holds a file. Keys are relative paths made by callpath
(``calls/<call id>/<recording sid>.<ext>``), never text from a request.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from backend.settings import Settings

# What a key may hold: callpath's own names only, so no key can leave the folder.
_KEY = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"not a recording key: {key!r}")
    return key


class RecordingStorage(Protocol):
    """A place recordings are written to, read from and deleted from."""

    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Keep ``data`` under ``key`` (replacing what was there)."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key`` (FileNotFoundError when there are none)."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a key already gone is not an error."""


class LocalStorage:
    """Files in a folder of this server (written whole, then renamed into place)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A reader never sees half a file: write beside it, sync, rename over.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write the file (in a thread: recordings are megabytes)."""
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        """Read the file."""
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        """Remove the file."""
        await asyncio.to_thread(self._path(key).unlink, True)


class S3Storage:
    """Objects in a bucket of any S3-compatible store (AWS, MinIO, GCS interoperability)."""

    name = "s3"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """A client for the bucket the settings name (boto3 is imported only when used)."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=settings.recording_s3_endpoint or None,
            region_name=settings.recording_s3_region,
            aws_access_key_id=settings.recording_s3_access_key or None,
            aws_secret_access_key=settings.recording_s3_secret_key or None,
        )
        return cls(client, settings.recording_s3_bucket)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Upload the object."""
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=_checked(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        """Download the object."""

        def read() -> bytes:
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=_checked(key))
            except self.client.exceptions.NoSuchKey as exc:
                raise FileNotFoundError(key) from exc
            body: bytes = answer["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        """Delete the object (S3 answers success for a key already gone)."""
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=_checked(key))


def from_settings(settings: Settings) -> RecordingStorage | None:
    """The storage the settings choose, or None when recordings are not kept."""
    if settings.recording_storage == "s3":
        return S3Storage.from_settings(settings)
    if settings.recording_storage == "local":
        return LocalStorage(Path(settings.recording_dir))
    return None
