"""At most one live (open or accepted) dispute per call, enforced by the database.

``attribution.billing.disputes.open_dispute`` checked for a live dispute and then inserted:
two people disputing the same call at the same moment could both pass the check. A partial
unique index makes the second insert a no-op on both stores. Any pair written before this
index keeps its oldest dispute; the later ones are closed as rejected, with a note saying why,
so the index can be built.
"""

STATEMENTS = [
    """UPDATE billing_disputes SET status = 'rejected',
        note = 'closed by migration 0044: the call had an earlier live dispute',
        decided_by = 'migration 0044', decided_ms = opened_ms
    WHERE status IN ('open', 'accepted') AND EXISTS (
        SELECT 1 FROM billing_disputes e
        WHERE e.call_id = billing_disputes.call_id AND e.status IN ('open', 'accepted')
          AND e.id < billing_disputes.id)""",
    "CREATE UNIQUE INDEX billing_disputes_live ON billing_disputes (call_id)"
    " WHERE status IN ('open', 'accepted')",
]
