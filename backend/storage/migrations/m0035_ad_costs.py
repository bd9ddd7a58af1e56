"""Ad cost imported from the platforms' report downloads (issue #23, ``attribution.costs``).

- ``ad_cost_imports``: one row per file given (who, when, platform, encoding, rows, days,
  total), listed on the dashboard and in the API.
- ``ad_costs``: a day of a campaign, ad group or keyword of one platform, for an advertiser
  (``site_id`` 0: every site of the advertiser). The same day and key imported again
  replaces the figures (a re-downloaded report corrects the earlier one); rows of other
  accounts or campaigns stay. ``cost_micros`` is the account currency's amount times a
  million, never a float. ``day`` is the ISO date of the platform account's day.
"""

STATEMENTS = [
    """CREATE TABLE ad_cost_imports (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        site_id BIGINT NOT NULL DEFAULT 0,
        platform TEXT NOT NULL,
        filename TEXT NOT NULL DEFAULT '',
        encoding TEXT NOT NULL DEFAULT '',
        currency TEXT NOT NULL DEFAULT '',
        rows INTEGER NOT NULL DEFAULT 0,
        skipped_rows INTEGER NOT NULL DEFAULT 0,
        first_day TEXT NOT NULL DEFAULT '',
        last_day TEXT NOT NULL DEFAULT '',
        cost_micros BIGINT NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        created_by TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX ad_cost_imports_advertiser ON ad_cost_imports (advertiser_id, id)",
    """CREATE TABLE ad_costs (
        id {pk},
        import_id BIGINT NOT NULL REFERENCES ad_cost_imports(id),
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        site_id BIGINT NOT NULL DEFAULT 0,
        platform TEXT NOT NULL,
        source TEXT NOT NULL,
        day TEXT NOT NULL,
        campaign_id TEXT NOT NULL DEFAULT '',
        campaign TEXT NOT NULL DEFAULT '',
        ad_group_id TEXT NOT NULL DEFAULT '',
        ad_group TEXT NOT NULL DEFAULT '',
        keyword TEXT NOT NULL DEFAULT '',
        match_type TEXT NOT NULL DEFAULT '',
        impressions BIGINT NOT NULL DEFAULT 0,
        clicks BIGINT NOT NULL DEFAULT 0,
        cost_micros BIGINT NOT NULL DEFAULT 0
    )""",
    # The natural key a re-import replaces on; also the report's scan (advertiser, days).
    "CREATE UNIQUE INDEX ad_costs_key ON ad_costs (advertiser_id, site_id, platform, day,"
    " campaign_id, campaign, ad_group_id, ad_group, keyword, match_type)",
]
