"""Pay-per-call billing for media portals (issue #20).

- ``billing_plans``: an advertiser's price plan (``advertiser_id`` NULL: the portal's
  default) effective from a day (``effective_from``, ``YYYY-MM-DD`` in the billing time
  zone). Plans are never updated: a new price is a new plan from a later (or, for a
  correction, an earlier) day. Its terms: the least talk time of a billable call, the
  repeat-caller window in days, the monthly fixed fee and the monthly cap (NULL: none).
- ``billing_prices``: a plan's prices: ``kind`` ``call`` (per billable call), ``minute``
  (per answered minute, rounded up) or ``reserved`` (per connected reserved call), for any
  call or only for a source / medium / target (the most specific match wins).
- ``billing_disputes``: a call an advertiser's user disputes, with the reason; the portal
  accepts or rejects it with a note.
- ``billing_statements``: a closed month of an advertiser: the statement as it was closed
  (``body``, canonical JSON, never written again), its totals, and when it was sent.
- ``billing_audit``: who did what to plans, disputes and statements, and when.
"""

STATEMENTS = [
    """CREATE TABLE billing_plans (
        id {pk},
        advertiser_id BIGINT REFERENCES advertisers(id),
        effective_from TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        min_talk_s INTEGER NOT NULL DEFAULT 60,
        repeat_days INTEGER NOT NULL DEFAULT 0,
        monthly_fee_yen BIGINT NOT NULL DEFAULT 0,
        monthly_cap_yen BIGINT,
        created_ms BIGINT NOT NULL,
        created_by TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX billing_plans_advertiser ON billing_plans (advertiser_id, effective_from)",
    """CREATE TABLE billing_prices (
        id {pk},
        plan_id BIGINT NOT NULL REFERENCES billing_plans(id),
        kind TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        medium TEXT NOT NULL DEFAULT '',
        target_id BIGINT REFERENCES targets(id),
        price_yen BIGINT NOT NULL
    )""",
    "CREATE INDEX billing_prices_plan ON billing_prices (plan_id)",
    """CREATE TABLE billing_disputes (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        call_id BIGINT NOT NULL REFERENCES calls(id),
        status TEXT NOT NULL DEFAULT 'open',
        reason TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        opened_by TEXT NOT NULL,
        opened_ms BIGINT NOT NULL,
        decided_by TEXT NOT NULL DEFAULT '',
        decided_ms BIGINT
    )""",
    "CREATE INDEX billing_disputes_advertiser ON billing_disputes (advertiser_id, status)",
    "CREATE INDEX billing_disputes_call ON billing_disputes (call_id)",
    """CREATE TABLE billing_statements (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        month TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'closed',
        body TEXT NOT NULL,
        taxable_yen BIGINT NOT NULL,
        tax_yen BIGINT NOT NULL,
        total_yen BIGINT NOT NULL,
        forced INTEGER NOT NULL DEFAULT 0,
        closed_by TEXT NOT NULL,
        closed_ms BIGINT NOT NULL,
        sent_by TEXT NOT NULL DEFAULT '',
        sent_ms BIGINT,
        UNIQUE (advertiser_id, month)
    )""",
    """CREATE TABLE billing_audit (
        id {pk},
        advertiser_id BIGINT REFERENCES advertisers(id),
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        subject TEXT NOT NULL,
        subject_id BIGINT,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX billing_audit_advertiser ON billing_audit (advertiser_id, at_ms)",
]
