"""API tokens that may only read, and users an administrator has disabled.

- ``api_tokens.read_only``: 1 for a token that may only read (every method but ``GET`` and
  ``HEAD`` is refused with 403). What any token may do is also cut, on every request, to
  what its user may do now (``backend.auth.require_token``).
- ``users.disabled_ms``: when an administrator disabled the user (NULL: active). A disabled
  user cannot sign in, and every request with one of their tokens is refused.
"""

STATEMENTS = [
    "ALTER TABLE api_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE users ADD COLUMN disabled_ms BIGINT",
]
