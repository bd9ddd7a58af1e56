"""Transcript search through each store's own full-text index (issue #22).

``call_transcripts.grams`` holds the character bigrams of the normalised transcript, each
as the hex of its UTF-8 bytes, separated by spaces (``attribution.transcripts.gram_tokens``):
plain ASCII words that neither store's tokenizer splits, so Japanese, which has no spaces
between words, is found by any substring of two characters or more.

- SQLite: ``transcript_fts``, an FTS5 table over that column (external content: the text is
  kept once, in ``call_transcripts``; its rowid is the call's id). Triggers keep it in step
  with every insert, update and delete of ``call_transcripts``, whoever writes.
- PostgreSQL: a GIN index on ``array_to_tsvector(string_to_array(grams, ' '))``, a
  text-search vector of the tokens (no parser, no dictionary: the tokens are the lexemes);
  PostgreSQL keeps it in step itself.

The bigrams of the transcripts already there are written by SQL here (the same tokens
``gram_tokens`` writes); ``transcript_grams``, the portable index it replaces, is dropped.
Transcripts are few when this lands (call analysis is new in the same release), so the fill
runs in the migration's unit.
"""

STATEMENTS = [
    "ALTER TABLE call_transcripts ADD COLUMN grams TEXT NOT NULL DEFAULT ''",
    "DROP TABLE transcript_grams",
]

DIALECT_STATEMENTS = {
    "sqlite": [
        """UPDATE call_transcripts SET grams = COALESCE((
            WITH RECURSIVE s(i) AS (
                SELECT 1 UNION ALL SELECT i + 1 FROM s
                WHERE i + 1 < length(call_transcripts.normalised)
            )
            SELECT group_concat(lower(hex(substr(call_transcripts.normalised, i, 2))), ' ')
            FROM s WHERE substr(call_transcripts.normalised, i, 2) <> ''
        ), '')""",
        "CREATE VIRTUAL TABLE transcript_fts USING fts5("
        "grams, content='call_transcripts', content_rowid='call_id')",
        """CREATE TRIGGER call_transcripts_fts_insert AFTER INSERT ON call_transcripts BEGIN
            INSERT INTO transcript_fts (rowid, grams) VALUES (new.call_id, new.grams);
        END""",
        """CREATE TRIGGER call_transcripts_fts_delete AFTER DELETE ON call_transcripts BEGIN
            INSERT INTO transcript_fts (transcript_fts, rowid, grams)
            VALUES ('delete', old.call_id, old.grams);
        END""",
        """CREATE TRIGGER call_transcripts_fts_update AFTER UPDATE ON call_transcripts BEGIN
            INSERT INTO transcript_fts (transcript_fts, rowid, grams)
            VALUES ('delete', old.call_id, old.grams);
            INSERT INTO transcript_fts (rowid, grams) VALUES (new.call_id, new.grams);
        END""",
        "INSERT INTO transcript_fts (transcript_fts) VALUES ('rebuild')",
    ],
    "postgresql": [
        """UPDATE call_transcripts SET grams = COALESCE((
            SELECT string_agg(DISTINCT encode(convert_to(substr(normalised, i, 2), 'UTF8'),
                'hex'), ' ')
            FROM generate_series(1, greatest(length(normalised) - 1, 1)) AS i
            WHERE substr(normalised, i, 2) <> ''
        ), '')""",
        "CREATE INDEX call_transcripts_search ON call_transcripts"
        " USING GIN (array_to_tsvector(string_to_array(grams, ' ')))",
    ],
}
