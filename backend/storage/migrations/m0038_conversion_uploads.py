"""Conversion actions sent straight to the platforms' APIs (``attribution.conversion_uploads``).

One row per action that has a direct upload: the kind (``google_ads``, ``meta``), its
configuration (ids, JSON), its secret (the OAuth refresh token or access token; never
shown again once stored), whether the caller's hashed number may be sent
(``consent_user_data``), and the last run's time and result.
"""

STATEMENTS = [
    """CREATE TABLE conversion_uploads (
        action_id BIGINT PRIMARY KEY REFERENCES conversion_actions(id),
        kind TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        secret TEXT NOT NULL DEFAULT '',
        consent_user_data TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        updated_ms BIGINT NOT NULL,
        last_run_ms BIGINT,
        last_result TEXT NOT NULL DEFAULT ''
    )""",
]
