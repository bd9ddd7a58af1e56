"""Files handed to a platform's API that it processes later (Yahoo! JAPAN's
``OfflineConversionService``; ``attribution.conversion_uploads``).

One row per file uploaded: the action, the network (``search`` or ``display``: Yahoo!
JAPAN's separate Search Ads and Display Ads APIs), the ad account, the upload id Yahoo!
answered, the ``conversion_sent`` batch of its calls, how many, and where processing stands
(``PROCESSING`` until a later run reads ``DONE``, ``DONE_WITH_ERROR`` or ``ERROR``; on
``ERROR`` the batch's calls are released to go again).
"""

STATEMENTS = [
    """CREATE TABLE conversion_upload_jobs (
        id {pk},
        action_id BIGINT NOT NULL REFERENCES conversion_actions(id),
        network TEXT NOT NULL,
        account_id TEXT NOT NULL,
        upload_id TEXT NOT NULL,
        batch TEXT NOT NULL,
        calls INTEGER NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        submitted_ms BIGINT NOT NULL,
        checked_ms BIGINT
    )""",
    "CREATE INDEX conversion_upload_jobs_action ON conversion_upload_jobs (action_id, status)",
]
