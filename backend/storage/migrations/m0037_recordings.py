"""Call analysis (issue #22): recordings kept by callpath, transcripts, phrase rules, search.

- ``recordings``: one row per recording the carrier reported, keyed by call, kind
  (``call`` for a two-party call recording; voicemail and others later) and the carrier's
  recording id, so the same callback twice queues one fetch. The row is the fetch's durable
  job (``status``: pending → fetching → stored, or failed after its tries; ``deleted`` once
  retention removed the files) and then the transcription's (``transcript_status``).
- ``transcript_lines``: what was said, with times (ms from the start) and channel
  (0: caller, 1: business on a dual-channel recording; 0 on a mono one).
- ``call_transcripts`` / ``transcript_grams``: the normalised text of a call's transcript
  and its character bigrams, the index the call log searches (same SQL on both stores,
  Japanese searchable without a word splitter).
- ``transcript_rules``: an advertiser's phrases that suggest an outcome and add a tag.
- ``calls.outcome_suggested_id`` / ``outcome_suggested_reason``: the machine's suggestion,
  kept apart from ``calls.outcome_id`` (a person's choice, which the machine only fills
  while it is empty).
- ``users`` / ``api_tokens.can_hear_recordings``: the right to hear and download
  recordings (off unless given; admins always have it).
- ``advertisers.recording_retention_days``: 0 keeps recordings; N deletes their files N
  days after the call.
"""

STATEMENTS = [
    """CREATE TABLE recordings (
        id {pk},
        call_id BIGINT NOT NULL REFERENCES calls(id),
        kind TEXT NOT NULL DEFAULT 'call',
        source_sid TEXT NOT NULL,
        source_url TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_ms BIGINT NOT NULL DEFAULT 0,
        claimed_until_ms BIGINT NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        storage TEXT NOT NULL DEFAULT '',
        original_key TEXT NOT NULL DEFAULT '',
        original_type TEXT NOT NULL DEFAULT '',
        mp3_key TEXT NOT NULL DEFAULT '',
        duration_ms BIGINT NOT NULL DEFAULT 0,
        channels INTEGER NOT NULL DEFAULT 0,
        size_bytes BIGINT NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        stored_ms BIGINT,
        deleted_ms BIGINT,
        transcript_status TEXT NOT NULL DEFAULT '',
        transcript_attempts INTEGER NOT NULL DEFAULT 0,
        transcript_next_ms BIGINT NOT NULL DEFAULT 0,
        transcript_error TEXT NOT NULL DEFAULT '',
        transcript_engine TEXT NOT NULL DEFAULT '',
        transcribed_ms BIGINT,
        UNIQUE (call_id, kind, source_sid)
    )""",
    "CREATE INDEX recordings_fetch ON recordings (status, next_try_ms)",
    "CREATE INDEX recordings_transcribe ON recordings (transcript_status, transcript_next_ms)",
    """CREATE TABLE transcript_lines (
        id {pk},
        recording_id BIGINT NOT NULL REFERENCES recordings(id),
        call_id BIGINT NOT NULL REFERENCES calls(id),
        channel INTEGER NOT NULL DEFAULT 0,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        text TEXT NOT NULL
    )""",
    "CREATE INDEX transcript_lines_recording ON transcript_lines (recording_id, start_ms)",
    "CREATE INDEX transcript_lines_call ON transcript_lines (call_id, start_ms)",
    """CREATE TABLE call_transcripts (
        call_id BIGINT PRIMARY KEY REFERENCES calls(id),
        advertiser_id BIGINT REFERENCES advertisers(id),
        normalised TEXT NOT NULL,
        updated_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE transcript_grams (
        gram TEXT NOT NULL,
        call_id BIGINT NOT NULL REFERENCES calls(id),
        PRIMARY KEY (gram, call_id)
    )""",
    "CREATE INDEX transcript_grams_call ON transcript_grams (call_id)",
    """CREATE TABLE transcript_rules (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        phrase TEXT NOT NULL,
        outcome_id BIGINT REFERENCES call_outcomes(id),
        tag TEXT NOT NULL DEFAULT '',
        position INTEGER NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        retired_ms BIGINT
    )""",
    "CREATE INDEX transcript_rules_advertiser ON transcript_rules (advertiser_id, position)",
    "ALTER TABLE calls ADD COLUMN outcome_suggested_id BIGINT",
    "ALTER TABLE calls ADD COLUMN outcome_suggested_reason TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE users ADD COLUMN can_hear_recordings INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE api_tokens ADD COLUMN can_hear_recordings INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE advertisers ADD COLUMN recording_retention_days INTEGER NOT NULL DEFAULT 0",
]
