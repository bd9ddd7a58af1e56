"""Conversion batches kept whole, and a site's GA4 consent.

``conversion_batches``: one row per recorded offline conversion file (Google, Yahoo! JAPAN,
Microsoft), with the file's bytes (base64, so one TEXT column serves both stores) and the
(call, click id) pairs it holds: a lost file, or an upload that failed, is downloaded again
byte for byte, or the batch is voided (its calls leave the ledger, so the next export takes
them again). ``advertiser_id`` is the scope the file was made in (NULL: every advertiser,
shown to administrators only). Batches recorded before this migration get a row from the
ledger with no file (``content`` NULL): they can be listed and voided, not downloaded.

``ga4_settings.consent_ad_user_data`` / ``consent_ad_personalization``: what the site tells
GA4 in the Measurement Protocol's ``consent`` object ('GRANTED', 'DENIED', or '' to send
nothing for it), instead of a hard-coded ``non_personalized_ads``.
"""

STATEMENTS = [
    """CREATE TABLE conversion_batches (
        id {pk},
        platform TEXT NOT NULL,
        batch TEXT NOT NULL,
        advertiser_id BIGINT,
        site_id BIGINT,
        start_ms BIGINT,
        end_ms BIGINT,
        row_count INTEGER NOT NULL,
        rows_json TEXT NOT NULL DEFAULT '[]',
        filename TEXT NOT NULL DEFAULT '',
        media_type TEXT NOT NULL DEFAULT '',
        content TEXT,
        created_ms BIGINT NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        voided_ms BIGINT,
        voided_by TEXT NOT NULL DEFAULT '',
        UNIQUE (platform, batch)
    )""",
    "CREATE INDEX conversion_batches_advertiser ON conversion_batches (advertiser_id, created_ms)",
    # Batches recorded before: listed and voidable, their file was never kept.
    """INSERT INTO conversion_batches (platform, batch, row_count, created_ms)
        SELECT platform, batch, COUNT(*), MIN(exported_ms) FROM conversion_ledger
        WHERE platform <> 'ga4' GROUP BY platform, batch""",
    "ALTER TABLE ga4_settings ADD COLUMN consent_ad_user_data TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE ga4_settings ADD COLUMN consent_ad_personalization TEXT NOT NULL DEFAULT ''",
]
# gtag's session ids of the visit (``CONTAINER.SESSION`` pairs from the ``_ga_<container>``
# cookies, attribution/ga_session.py): the GA4 push sends the one of the site's property.
STATEMENTS.append("ALTER TABLE sessions ADD COLUMN ga_sessions TEXT NOT NULL DEFAULT ''")
