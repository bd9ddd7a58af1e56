"""Daily roll-ups of sessions for the reports (issue #17: portal-wide reports on 1,000,000
sessions in 300 ms), see ``attribution.rollups`` and docs/reports.md.

- ``report_keys``: each combination of report values a roll-up row counts, once per grain
  (1: channel, source, campaign, ad group, keyword, match type, device; 2: landing page),
  as a JSON array; rows refer to it by id, so a report groups integers, not text.
- ``report_days``: one row per site and local day (in the site's time zone) that has been
  rolled up: the day's ``[day_ms, day_end_ms)``, and ``version`` / ``built_version``: a
  write that changes the day's sessions (a new touch on an older session, the retention
  purge) adds one to ``version``; the day's rows count only while both are equal.
- ``report_session_days``: sessions per site, grain, day and key.
"""

STATEMENTS = [
    """CREATE TABLE report_keys (
        id {pk},
        grain INTEGER NOT NULL,
        key TEXT NOT NULL,
        UNIQUE (grain, key)
    )""",
    """CREATE TABLE report_days (
        site_id BIGINT NOT NULL,
        day_ms BIGINT NOT NULL,
        day_end_ms BIGINT NOT NULL,
        version BIGINT NOT NULL DEFAULT 1,
        built_version BIGINT NOT NULL DEFAULT 0,
        built_ms BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (site_id, day_ms)
    )""",
    """CREATE TABLE report_session_days (
        site_id BIGINT NOT NULL,
        grain INTEGER NOT NULL,
        day_ms BIGINT NOT NULL,
        key_id BIGINT NOT NULL,
        sessions BIGINT NOT NULL,
        PRIMARY KEY (site_id, grain, day_ms, key_id)
    )""",
    # Reports read (site, grain, days) and group by key: the count from the index too.
    "CREATE INDEX report_session_days_read"
    " ON report_session_days (site_id, grain, day_ms, key_id, sessions)",
]
