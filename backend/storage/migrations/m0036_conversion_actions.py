"""Conversion actions, what each sent where, adjustments and feed URLs (issue #23).

- ``conversion_actions``: several per site and platform (電話, 有効電話, 新規電話, per
  branch), each with its rule (qualified only, first-time callers only, a minimum talk
  time, an outcome kind or one outcome, one target) and its value (fixed, the call's value,
  or the call's outcome's value), in ``currency``. The site's conversion settings
  (``conversion_settings``, one per platform) stay its default conversion.
- ``conversion_sent``: each call an action sent to a destination (``file``: the upload
  files and the API; ``feed:<id>``: one feed URL), with the click, time and value written,
  so nothing goes to a destination twice and a later change of the call can be adjusted:
  ``state`` is ``sent``, or ``retracted`` once an adjustment took it back.
- ``conversion_adjustments``: every retraction and restatement written, in its batch.
- ``conversion_feeds``: secret URLs a scheduler fetches an action's new conversions from
  (the token's SHA-256 only; revoked feeds answer 404).
- ``call_outcomes.value_yen``: what an outcome is worth, for actions valued by outcome.
"""

STATEMENTS = [
    """CREATE TABLE conversion_actions (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        platform TEXT NOT NULL,
        name TEXT NOT NULL,
        qualified_only INTEGER NOT NULL DEFAULT 1,
        first_time_only INTEGER NOT NULL DEFAULT 0,
        min_talk_s INTEGER NOT NULL DEFAULT 0,
        outcome_kind TEXT NOT NULL DEFAULT '',
        outcome_id BIGINT REFERENCES call_outcomes(id),
        target_id BIGINT REFERENCES targets(id),
        value_from TEXT NOT NULL DEFAULT 'fixed',
        value TEXT NOT NULL DEFAULT '0',
        currency TEXT NOT NULL DEFAULT 'JPY',
        enabled INTEGER NOT NULL DEFAULT 1,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        UNIQUE (site_id, platform, name)
    )""",
    """CREATE TABLE conversion_sent (
        action_id BIGINT NOT NULL REFERENCES conversion_actions(id),
        destination TEXT NOT NULL,
        call_id BIGINT NOT NULL REFERENCES calls(id),
        click_id TEXT NOT NULL,
        conversion_ms BIGINT NOT NULL,
        value TEXT NOT NULL,
        currency TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'sent',
        batch TEXT NOT NULL,
        sent_ms BIGINT NOT NULL,
        adjusted_ms BIGINT,
        PRIMARY KEY (action_id, destination, call_id)
    )""",
    """CREATE TABLE conversion_adjustments (
        id {pk},
        action_id BIGINT NOT NULL REFERENCES conversion_actions(id),
        call_id BIGINT NOT NULL REFERENCES calls(id),
        kind TEXT NOT NULL,
        value_before TEXT NOT NULL,
        value_after TEXT NOT NULL,
        batch TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX conversion_adjustments_action ON conversion_adjustments (action_id, at_ms)",
    """CREATE TABLE conversion_feeds (
        id {pk},
        action_id BIGINT NOT NULL REFERENCES conversion_actions(id),
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        revoked_ms BIGINT,
        last_fetch_ms BIGINT
    )""",
    "ALTER TABLE call_outcomes ADD COLUMN value_yen BIGINT",
]
