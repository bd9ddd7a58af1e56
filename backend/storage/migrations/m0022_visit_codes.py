"""Visit codes (任意番号, issue #21): digits dialled after a tracking number that name a visit
exactly, and fixed codes given to offline media on one shared number.

- ``sites.visit_codes``: 1 when the site's snippet answers put the visit's code in the
  ``tel:`` links of its pool numbers, and its numbers listen for digits before the call
  flow (``<Gather>``). Off (0) by default.
- ``visit_codes``: one row per code issued to a session (``session_id``), kept for the
  code's life (``CALLPATH_VISIT_CODE_DAYS``): a caller redialling from the phone's call
  history days later still names the visit. A code is not issued again on the site within
  the late-call window; after it, the same digits may name another visit, and the matcher
  takes only the visit whose session held the dialled number.
- ``fixed_codes``: codes given to offline media and campaigns (a flyer, the radio) on one
  shared number (``number_id``); a call with one is credited to its ``source_label`` and
  ``campaign``.
- ``calls.code_digits``: the digits the caller sent (kept whether they named a code or
  not); ``calls.code_kind``: what they named (``visit``, ``fixed``) or ``''``.
"""

STATEMENTS = [
    "ALTER TABLE sites ADD COLUMN visit_codes INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE visit_codes (
        id {pk},
        site_id BIGINT NOT NULL REFERENCES sites(id),
        session_id BIGINT NOT NULL REFERENCES sessions(id),
        code TEXT NOT NULL,
        issued_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX visit_codes_site_code ON visit_codes (site_id, code, issued_ms)",
    "CREATE INDEX visit_codes_session ON visit_codes (session_id, issued_ms)",
    "CREATE INDEX visit_codes_site_issued ON visit_codes (site_id, issued_ms)",
    """CREATE TABLE fixed_codes (
        id {pk},
        number_id BIGINT NOT NULL REFERENCES tracking_numbers(id),
        code TEXT NOT NULL,
        source_label TEXT NOT NULL DEFAULT '',
        campaign TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        UNIQUE (number_id, code)
    )""",
    "ALTER TABLE calls ADD COLUMN code_digits TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN code_kind TEXT NOT NULL DEFAULT ''",
]
