"""Telephony: call-status ordering, per-advertiser call options, blocked callers,
notification targets and their deliveries.

``calls.status_rank`` lets a late or repeated callback never move a call backwards
(ringing 0, in-progress 1, completed 2, terminal parent status 3, the dial's outcome 4).
"""

STATEMENTS = [
    "ALTER TABLE calls ADD COLUMN status_rank INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE calls ADD COLUMN recording_sid TEXT NOT NULL DEFAULT ''",
    # How calls of one advertiser are put through; NULL columns fall back to the settings.
    # caller_id: 'caller' (the caller's own number) or 'tracking' (the dialled number).
    """CREATE TABLE call_options (
        advertiser_id BIGINT PRIMARY KEY REFERENCES advertisers(id),
        record INTEGER,
        whisper INTEGER,
        caller_id TEXT,
        dial_timeout_s INTEGER,
        language TEXT,
        voice TEXT,
        updated_ms BIGINT NOT NULL
    )""",
    # 着信拒否: kind 'exact' (one E.164 number) or 'prefix' (every number starting with it).
    """CREATE TABLE blocked_callers (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        pattern TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'exact',
        note TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        UNIQUE (advertiser_id, pattern, kind)
    )""",
    # Where a new call is announced: kind 'webhook' (address is a URL, secret signs the
    # body) or 'email' (address is a mailbox). event: 'started' or 'completed'.
    """CREATE TABLE notification_targets (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        secret TEXT NOT NULL DEFAULT '',
        event TEXT NOT NULL DEFAULT 'completed',
        active INTEGER NOT NULL DEFAULT 1,
        created_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX notification_targets_advertiser ON notification_targets (advertiser_id)",
    # One row per (target, call, event): a call is announced once however often its
    # callbacks arrive. status: 'pending', 'sent' or 'failed'.
    """CREATE TABLE notification_deliveries (
        id {pk},
        target_id BIGINT NOT NULL REFERENCES notification_targets(id),
        call_id BIGINT NOT NULL REFERENCES calls(id),
        event TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        sent_ms BIGINT,
        UNIQUE (target_id, call_id, event)
    )""",
]
