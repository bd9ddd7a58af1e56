"""Signed tokens, one itsdangerous namespace (salt) per purpose."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

SESSION_TOKEN = "callpath.session"


class Signer:
    """Signs and reads small values for one purpose; a token of one purpose fails another."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=purpose)

    def sign(self, value: object) -> str:
        """A URL-safe token carrying ``value``."""
        return self._serializer.dumps(value)

    def read(self, token: str) -> object | None:
        """The value in ``token``, or None when it is forged, damaged or of another purpose."""
        if not token or len(token) > 512:
            return None
        try:
            value: object = self._serializer.loads(token)
        except BadSignature:
            return None
        return value
