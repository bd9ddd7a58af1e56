"""Daily roll-ups of sessions for the reports (issue #17: portal-wide reports on 1,000,000
sessions in 300 ms), see ``attribution.rollups`` and docs/reports.md.

- ``report_values``: each value a report groups by (a channel, a keyword, a landing page),
  once; roll-up rows hold their ids, so a report groups integers, not text.
- ``report_days``: one row per site and local day (in the site's time zone) that has been
  rolled up: the day's ``[day_ms, day_end_ms)``, and ``version`` / ``built_version``: a
  write that changes the day's sessions (a new touch on an older session, the retention
  purge) adds one to ``version``; the day's rows count only while both are equal.
- ``report_session_days``: sessions per site, grain, day and value of each column of the
  grain (0 for a column the grain does not have), stored in that order on SQLite.
"""

STATEMENTS = [
    """CREATE TABLE report_values (
        id {pk},
        value TEXT NOT NULL UNIQUE
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
        channel BIGINT NOT NULL,
        source BIGINT NOT NULL,
        campaign BIGINT NOT NULL,
        ad_group BIGINT NOT NULL,
        keyword BIGINT NOT NULL,
        match_type BIGINT NOT NULL,
        device BIGINT NOT NULL,
        landing_page BIGINT NOT NULL,
        sessions BIGINT NOT NULL,
        PRIMARY KEY (site_id, grain, day_ms, channel, source, campaign, ad_group, keyword,
            match_type, device, landing_page)
    ) {clustered}""",
]
