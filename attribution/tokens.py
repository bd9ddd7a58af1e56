"""Signed tokens, one itsdangerous namespace (salt) per purpose.

Session tokens are signed and read on every visit and heartbeat, and itsdangerous derives
its key and tries zlib on every call (about 100 µs a token). :class:`Signer` writes and
reads integers itself, in exactly itsdangerous' ``URLSafeSerializer`` format (base64 of
the JSON, a dot, HMAC-SHA1 under the ``django-concat`` derived key), with the key derived
once; anything else goes through itsdangerous. Tokens issued either way read either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeSerializer

SESSION_TOKEN = "callpath.session"


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class Signer:
    """Signs and reads small values for one purpose; a token of one purpose fails another."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=purpose)
        # itsdangerous' default derivation ("django-concat"): sha1(salt + "signer" + key).
        self._key = hashlib.sha1(
            purpose.encode() + b"signer" + secret_key.encode(), usedforsecurity=True
        ).digest()

    def _mac(self, payload: bytes) -> bytes:
        return _b64encode(hmac.digest(self._key, payload, "sha1"))

    def sign(self, value: object) -> str:
        """A URL-safe token carrying ``value``."""
        if type(value) is int:
            # JSON of an int is its digits, never shorter compressed: itsdangerous' format.
            payload = _b64encode(str(value).encode())
            return (payload + b"." + self._mac(payload)).decode()
        return self._serializer.dumps(value)

    def read(self, token: str) -> object | None:
        """The value in ``token``, or None when it is forged, damaged or of another purpose."""
        if not token or len(token) > 512:
            return None
        payload, dot, mac = token.encode("utf-8", "replace").rpartition(b".")
        if dot and payload and not payload.startswith(b"."):
            if not hmac.compare_digest(mac, self._mac(payload)):
                return None
            try:
                digits = _b64decode(payload)
            except ValueError:
                return None
            if digits.isdigit() or (digits[:1] == b"-" and digits[1:].isdigit()):
                return int(digits)
        try:
            value: object = self._serializer.loads(token)
        except BadSignature:
            return None
        return value
