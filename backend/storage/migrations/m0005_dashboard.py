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
    # (calls_session, joining calls to their session, comes with m0006.)
    # Reports group a site's sessions of a date range by channel, source, campaign, ad group,
    # keyword or device: with these columns in the index the grouping never touches the
    # table (bench/reports.py: 1M sessions). landing_url stays out: URLs can be long enough
    # to pass PostgreSQL's limit on the size of one index entry.
    "CREATE INDEX sessions_report ON sessions"
    " (site_id, started_ms, channel, source, campaign, ad_group, keyword, device)",
]
