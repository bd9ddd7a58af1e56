"""Calls worked by hand (issue #17): a verdict on qualification, tags, a note, an outcome from
the advertiser's list, a value, and the audit trail of every change.

- ``calls.qualified_by_hand``: NULL while the site's rules decide ``calls.qualified``; 0 or 1
  once a person set it (the rules no longer overwrite it), with ``qualified_reason``.
- ``calls.note``, ``calls.value_yen`` (NULL: none), ``calls.outcome_id``.
- ``call_outcomes``: an advertiser's outcome list (成約 / 見込み / 不成立 / NG reasons): a
  label and a kind (``won``, ``open``, ``lost``) so reports can count wins whatever the
  labels; retired outcomes stay on the calls that have them.
- ``call_tags``: free tags, one row per call and tag (the call log filters on them).
- ``call_audit``: who changed what on a call, when, before and after (text).
"""

STATEMENTS = [
    "ALTER TABLE calls ADD COLUMN qualified_by_hand INTEGER",
    "ALTER TABLE calls ADD COLUMN qualified_reason TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN note TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN value_yen BIGINT",
    "ALTER TABLE calls ADD COLUMN outcome_id BIGINT",
    """CREATE TABLE call_outcomes (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        label TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'open',
        position INTEGER NOT NULL DEFAULT 0,
        retired_ms BIGINT,
        created_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX call_outcomes_advertiser ON call_outcomes (advertiser_id, position)",
    """CREATE TABLE call_tags (
        call_id BIGINT NOT NULL REFERENCES calls(id),
        tag TEXT NOT NULL,
        PRIMARY KEY (call_id, tag)
    )""",
    "CREATE INDEX call_tags_tag ON call_tags (tag, call_id)",
    """CREATE TABLE call_audit (
        id {pk},
        call_id BIGINT NOT NULL REFERENCES calls(id),
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        field TEXT NOT NULL,
        before TEXT NOT NULL DEFAULT '',
        after TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX call_audit_call ON call_audit (call_id, at_ms)",
    # Caller history on the call page: the caller's calls to the same advertiser.
    "CREATE INDEX calls_advertiser_caller ON calls (advertiser_id, caller, started_ms)",
    # Every advertiser starts with the built-in outcomes (new ones get them when created).
    *(
        "INSERT INTO call_outcomes (advertiser_id, label, kind, position, created_ms)"
        f" SELECT id, '@{kind}', '{kind}', {position}, created_ms FROM advertisers"
        for position, kind in enumerate(("won", "open", "lost"))
    ),
]
