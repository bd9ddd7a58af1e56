"""Dashboard: login sessions that logout can end, and indexes for the report queries."""

STATEMENTS = [
    # A browser's login. The cookie carries a signed random token; only its SHA-256 is kept,
    # so a stolen database does not log anybody in, and logout ends the session for good.
    """CREATE TABLE web_sessions (
        id {pk},
        user_id BIGINT NOT NULL REFERENCES users(id),
        token_hash TEXT NOT NULL UNIQUE,
        csrf TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        revoked_ms BIGINT
    )""",
    "CREATE INDEX web_sessions_user ON web_sessions (user_id)",
    # Calls joined to their session (click path, reports) and the live feed by id.
    "CREATE INDEX calls_session ON calls (session_id)",
]
