"""Pool: source rules, the log of pool exhaustions, and retirement times of numbers.

Conventions as in m0001: times are integer epoch milliseconds (UTC) in ``_ms`` columns,
flags are 0/1 integers, numbers are E.164 text.
"""

STATEMENTS = [
    # Which visit gets which number. kind: 'param' (landing-page parameter match_key with
    # value match_value, '' = any value), 'referrer' (referrer host is match_value or a
    # subdomain of it), 'source' (classified match_key in channel/source/medium/campaign
    # equals match_value). action: 'number' (show the static source number number_id),
    # 'pool' (lease from the target's session pool), 'original' (keep the page's number).
    # target_id NULL: the rule applies to every target of the site.
    """CREATE TABLE source_rules (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        target_id BIGINT REFERENCES targets(id),
        kind TEXT NOT NULL,
        match_key TEXT NOT NULL DEFAULT '',
        match_value TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        number_id BIGINT REFERENCES tracking_numbers(id),
        priority INTEGER NOT NULL DEFAULT 100,
        label TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX source_rules_site ON source_rules (site_id, kind, priority)",
    # One row per claim a pool could not serve with a pool number. outcome: 'overflow'
    # (the overflow number was given) or 'original' (the page kept its number).
    """CREATE TABLE pool_exhaustions (
        id {pk},
        pool_id BIGINT NOT NULL REFERENCES pools(id),
        session_id BIGINT REFERENCES sessions(id),
        ts_ms BIGINT NOT NULL,
        outcome TEXT NOT NULL
    )""",
    "CREATE INDEX pool_exhaustions_pool_ts ON pool_exhaustions (pool_id, ts_ms)",
    "CREATE INDEX leases_pool_started ON leases (pool_id, started_ms)",
    "ALTER TABLE tracking_numbers ADD COLUMN retired_ms BIGINT",
]
