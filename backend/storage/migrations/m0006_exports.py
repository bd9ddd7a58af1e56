"""Exports and the API: per-site conversion settings, GA4 settings, the conversion ledger.

The ledger is what makes a repeated export safe: a call sent to a platform once is recorded
there and never sent to that platform again.
"""

STATEMENTS = [
    # How a site's calls are named and valued on one ad platform ('google', 'yahoo',
    # 'microsoft', 'ga4'). Without a row the defaults of attribution.conversions apply.
    """CREATE TABLE conversion_settings (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        platform TEXT NOT NULL,
        conversion_name TEXT NOT NULL,
        value TEXT NOT NULL DEFAULT '0',
        currency TEXT NOT NULL DEFAULT 'JPY',
        qualified_only INTEGER NOT NULL DEFAULT 1,
        enabled INTEGER NOT NULL DEFAULT 1,
        updated_ms BIGINT NOT NULL,
        UNIQUE (site_id, platform)
    )""",
    # GA4 Measurement Protocol destination of a site. endpoint_url is overridable (the
    # EU endpoint, or a local receiver in tests).
    """CREATE TABLE ga4_settings (
        site_id BIGINT PRIMARY KEY REFERENCES sites(id),
        measurement_id TEXT NOT NULL,
        api_secret TEXT NOT NULL,
        endpoint_url TEXT NOT NULL DEFAULT 'https://www.google-analytics.com/mp/collect',
        event_name TEXT NOT NULL DEFAULT 'phone_call',
        enabled INTEGER NOT NULL DEFAULT 1,
        updated_ms BIGINT NOT NULL
    )""",
    # One row per (platform, call) ever exported: the second export skips it.
    """CREATE TABLE conversion_ledger (
        id {pk},
        platform TEXT NOT NULL,
        call_id BIGINT NOT NULL REFERENCES calls(id),
        click_id TEXT NOT NULL DEFAULT '',
        batch TEXT NOT NULL,
        exported_ms BIGINT NOT NULL,
        UNIQUE (platform, call_id)
    )""",
    "CREATE INDEX conversion_ledger_batch ON conversion_ledger (batch)",
    "CREATE INDEX IF NOT EXISTS calls_session ON calls (session_id)",
    # Path exports read calls in start-time order; with this index no filter needs a sort.
    "CREATE INDEX calls_started ON calls (started_ms)",
    "CREATE INDEX sessions_last_seen ON sessions (last_seen_ms)",
]
