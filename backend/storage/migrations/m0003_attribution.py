"""Attribution: qualification rules, per-site parameter names, ingest drop counters.

Conventions as in m0001: epoch-ms ``BIGINT`` times, 0/1 integer flags, JSON as text.
"""

STATEMENTS = [
    # What makes a call "qualified" for a site. A site without a row uses the defaults
    # below (answered and at least 60 s of talk). first_time_days = 0 looks back forever.
    """CREATE TABLE qualification_rules (
        site_id BIGINT PRIMARY KEY REFERENCES sites(id),
        min_talk_s INTEGER NOT NULL DEFAULT 60,
        require_answered INTEGER NOT NULL DEFAULT 1,
        require_first_time INTEGER NOT NULL DEFAULT 0,
        first_time_days INTEGER NOT NULL DEFAULT 0,
        updated_ms BIGINT NOT NULL
    )""",
    # Tracking-template parameter names per site, a JSON object field -> list of names,
    # e.g. {"keyword": ["kw", "utm_term"], "campaign": ["cid"]}; merged over the defaults.
    """CREATE TABLE site_attribution (
        site_id BIGINT PRIMARY KEY REFERENCES sites(id),
        params {json} NOT NULL DEFAULT '{}',
        updated_ms BIGINT NOT NULL
    )""",
    # Visits the ingest pipeline dropped, by site, UTC day (epoch ms of midnight) and
    # reason (bot, spam_referrer, origin_not_allowed, rate_limited, ...). site_id 0 when
    # the site is unknown.
    """CREATE TABLE ingest_counters (
        site_id BIGINT NOT NULL,
        day_ms BIGINT NOT NULL,
        reason TEXT NOT NULL,
        count BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (site_id, day_ms, reason)
    )""",
    # The latest touch as JSON (the columns hold its main fields) and how many touches the
    # session has had; first_touch (m0001) keeps the first.
    "ALTER TABLE sessions ADD COLUMN last_touch {json} NOT NULL DEFAULT '{}'",
    "ALTER TABLE sessions ADD COLUMN touches INTEGER NOT NULL DEFAULT 1",
    # Repeat-caller look-ups go by site and caller.
    "CREATE INDEX calls_site_caller ON calls (site_id, caller, started_ms)",
    "CREATE INDEX leases_session ON leases (session_id, number_id)",
]
