"""Call flows per tracking number or per source (issue #18), beside a target's own flow.

A version of ``call_flows`` now belongs to one of a target's flows: its own (both columns
empty), one tracking number's (``number_id``) or one source's (``source``: a tracking
number's source label, such as チラシ). A call takes the most specific flow in force:
its tracking number's, else its number's source's, else its target's
(``backend.telephony.routing``). Versions still count per target, across its flows, so
``(target_id, version)`` names one version and a rollback puts it back in its own flow.
"""

STATEMENTS = [
    "ALTER TABLE call_flows ADD COLUMN number_id BIGINT",
    "ALTER TABLE call_flows ADD COLUMN source TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX call_flows_scope ON call_flows (target_id, number_id, source, version)",
]
