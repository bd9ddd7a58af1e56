"""Who set a notification target up, so it tells no more than that person may see.

``created_by`` is the dashboard user who added the target; each delivery follows that
user's rights at the time it is sent (caller numbers masked unless they may see them, and
nothing at all once they may no longer see the advertiser). Targets added on the command
line have no user: ``show_callers`` is the operator's choice (``--show-callers``). Targets
older than this migration have neither and so send masked callers, the safe reading of
an unknown owner. No foreign key: a user removed later leaves a target that sends nothing,
rather than a user who cannot be removed.
"""

STATEMENTS = [
    "ALTER TABLE notification_targets ADD COLUMN created_by BIGINT",
    "ALTER TABLE notification_targets ADD COLUMN show_callers INTEGER NOT NULL DEFAULT 0",
]
