"""Call analysis by providers (issue #22): the transcript's language, and the summary job.

- ``recordings.transcript_language``: the language the transcription engine reported
  (``en`` for PocketSphinx; what the speech API or faster-whisper detected or was told).
- ``recordings.summary_*``: the durable job that asks the language-model provider for a
  summary and a suggested outcome once the transcript is kept (``summary_status``: '' when
  no provider is set, pending → working → done, or failed after its tries; tries, next
  try and last error like the transcription's), and what it answered: the summary in the
  call's language, that language, the outcome it picked from the advertiser's list and
  its reason, the model's name and when.
- ``calls.outcome_suggested_by``: whose suggestion ``outcome_suggested_id`` is (``rules``
  or ``model``; '' on calls suggested before it, which only rules did).
"""

STATEMENTS = [
    "ALTER TABLE recordings ADD COLUMN transcript_language TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summary_status TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summary_attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE recordings ADD COLUMN summary_next_ms BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE recordings ADD COLUMN summary_error TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summary_text TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summary_language TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summary_outcome_id BIGINT",
    "ALTER TABLE recordings ADD COLUMN summary_reason TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summary_model TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE recordings ADD COLUMN summarised_ms BIGINT",
    "CREATE INDEX recordings_summarise ON recordings (summary_status, summary_next_ms)",
    "ALTER TABLE calls ADD COLUMN outcome_suggested_by TEXT NOT NULL DEFAULT ''",
]
