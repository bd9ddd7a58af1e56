"""The first schema: advertisers, sites, numbers, pools, leases, sessions, calls, users.

Conventions: times are integer epoch milliseconds (UTC) in columns ending ``_ms``; flags are
integers 0/1; phone numbers are E.164 text; JSON documents are text.
"""

STATEMENTS = [
    # An advertiser owns sites, numbers and calls; a portal operator runs many of them.
    """CREATE TABLE advertisers (
        id {pk},
        name TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    )""",
    # A site is one snippet key. `domains` is a JSON list of allowed hostnames.
    """CREATE TABLE sites (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        site_key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        domains {json} NOT NULL DEFAULT '[]',
        country TEXT NOT NULL DEFAULT 'JP',
        timezone TEXT NOT NULL DEFAULT 'Asia/Tokyo',
        untracked_policy TEXT NOT NULL DEFAULT 'pool',
        exhausted_policy TEXT NOT NULL DEFAULT 'overflow',
        created_ms BIGINT NOT NULL
    )""",
    # The business numbers shown on the site's pages (one per branch).
    """CREATE TABLE targets (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        number TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        UNIQUE (site_id, number)
    )""",
    """CREATE TABLE pools (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        target_id BIGINT NOT NULL REFERENCES targets(id),
        name TEXT NOT NULL,
        ttl_ms BIGINT NOT NULL,
        grace_ms BIGINT NOT NULL,
        cooldown_ms BIGINT NOT NULL,
        overflow_number_id BIGINT,
        exhausted_count BIGINT NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        UNIQUE (target_id)
    )""",
    # kind: 'pool' (leased per session), 'source' (static, one per medium), 'overflow'.
    # status: 'active', 'retiring' (waits for its live lease to end), 'retired'.
    """CREATE TABLE tracking_numbers (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        number TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        forward_to TEXT NOT NULL,
        site_id BIGINT REFERENCES sites(id),
        pool_id BIGINT REFERENCES pools(id),
        source_label TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active',
        last_released_ms BIGINT NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX tracking_numbers_pool ON tracking_numbers (pool_id, status, last_released_ms)",
    # A visitor session: where it came from. No raw IP: ip_hash is salted and rotated.
    """CREATE TABLE sessions (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        visitor_id TEXT NOT NULL DEFAULT '',
        started_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        ip_hash TEXT NOT NULL DEFAULT '',
        user_agent TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '',
        browser TEXT NOT NULL DEFAULT '',
        os TEXT NOT NULL DEFAULT '',
        country TEXT NOT NULL DEFAULT '',
        region TEXT NOT NULL DEFAULT '',
        city TEXT NOT NULL DEFAULT '',
        landing_url TEXT NOT NULL DEFAULT '',
        referrer TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        medium TEXT NOT NULL DEFAULT '',
        campaign TEXT NOT NULL DEFAULT '',
        ad_group TEXT NOT NULL DEFAULT '',
        keyword TEXT NOT NULL DEFAULT '',
        match_type TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL DEFAULT '',
        gclid TEXT NOT NULL DEFAULT '',
        gbraid TEXT NOT NULL DEFAULT '',
        wbraid TEXT NOT NULL DEFAULT '',
        yclid TEXT NOT NULL DEFAULT '',
        fbclid TEXT NOT NULL DEFAULT '',
        msclkid TEXT NOT NULL DEFAULT '',
        ga_client_id TEXT NOT NULL DEFAULT '',
        first_touch {json} NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX sessions_site_started ON sessions (site_id, started_ms)",
    """CREATE TABLE page_views (
        id {pk},
        session_id BIGINT NOT NULL REFERENCES sessions(id),
        ts_ms BIGINT NOT NULL,
        url TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        referrer TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX page_views_session ON page_views (session_id, ts_ms)",
    # A lease binds a number to a session. Live: ended_ms IS NULL. expires_ms moves with
    # each heartbeat. window_*: an explicit time window (reserved calls); NULL for DNI.
    """CREATE TABLE leases (
        id {pk},
        pool_id BIGINT NOT NULL REFERENCES pools(id),
        number_id BIGINT NOT NULL REFERENCES tracking_numbers(id),
        session_id BIGINT NOT NULL REFERENCES sessions(id),
        overflow INTEGER NOT NULL DEFAULT 0,
        started_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        ended_ms BIGINT,
        window_start_ms BIGINT,
        window_end_ms BIGINT
    )""",
    # Backstops of the invariants: one live lease per number, one per session and pool.
    "CREATE UNIQUE INDEX leases_live_number ON leases (number_id)"
    " WHERE ended_ms IS NULL AND overflow = 0",
    "CREATE UNIQUE INDEX leases_live_session ON leases (session_id, pool_id)"
    " WHERE ended_ms IS NULL",
    "CREATE INDEX leases_number_time ON leases (number_id, started_ms)",
    "CREATE INDEX leases_pool_live ON leases (pool_id, ended_ms, expires_ms)",
    """CREATE TABLE calls (
        id {pk},
        provider TEXT NOT NULL,
        provider_call_id TEXT NOT NULL,
        advertiser_id BIGINT REFERENCES advertisers(id),
        site_id BIGINT REFERENCES sites(id),
        number_id BIGINT REFERENCES tracking_numbers(id),
        tracking_number TEXT NOT NULL,
        caller TEXT NOT NULL DEFAULT '',
        forwarded_to TEXT NOT NULL DEFAULT '',
        started_ms BIGINT NOT NULL,
        answered_ms BIGINT,
        ended_ms BIGINT,
        status TEXT NOT NULL DEFAULT 'ringing',
        duration_s INTEGER NOT NULL DEFAULT 0,
        talk_s INTEGER NOT NULL DEFAULT 0,
        recording_url TEXT NOT NULL DEFAULT '',
        session_id BIGINT REFERENCES sessions(id),
        lease_id BIGINT REFERENCES leases(id),
        match_method TEXT NOT NULL DEFAULT 'none',
        match_candidates INTEGER NOT NULL DEFAULT 0,
        qualified INTEGER NOT NULL DEFAULT 0,
        first_time INTEGER NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        UNIQUE (provider, provider_call_id)
    )""",
    "CREATE INDEX calls_site_started ON calls (site_id, started_ms)",
    "CREATE INDEX calls_advertiser_started ON calls (advertiser_id, started_ms)",
    "CREATE INDEX calls_caller ON calls (caller, started_ms)",
    """CREATE TABLE call_events (
        id {pk},
        call_id BIGINT NOT NULL REFERENCES calls(id),
        ts_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        payload {json} NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX call_events_call ON call_events (call_id, ts_ms)",
    # role: 'admin' (every advertiser) or 'member' (one advertiser).
    """CREATE TABLE users (
        id {pk},
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'member',
        advertiser_id BIGINT REFERENCES advertisers(id),
        locale TEXT NOT NULL DEFAULT '',
        can_see_callers INTEGER NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL
    )""",
    # Only a hash of the token is kept; the token itself is shown once.
    """CREATE TABLE api_tokens (
        id {pk},
        user_id BIGINT NOT NULL REFERENCES users(id),
        advertiser_id BIGINT REFERENCES advertisers(id),
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        can_see_callers INTEGER NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        revoked_ms BIGINT,
        last_used_ms BIGINT
    )""",
]
