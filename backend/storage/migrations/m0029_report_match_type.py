"""Reports group sessions by match type too (a keyword by source and match type: Google and
Yahoo! clicks of the same words are rows of their own, #23).

m0005's covering index ``sessions_report`` held every column reports group by except
``match_type``, so grouping by it read each session's row: portal-wide over 1,000,000
sessions it took about twice the CPU of the other dimensions (bench/reports.py). The
index is replaced by one that holds ``match_type`` too (a few bytes a session: 'exact',
'phrase', 'broad' or ''), built without holding the table (``CONCURRENT_INDEXES``);
until it is built, reports read the sessions through ``sessions_site_started``, slower
but the same numbers. Dropping the old one first keeps a visit's insert from updating two
eight-column indexes.
"""

STATEMENTS = ["DROP INDEX IF EXISTS sessions_report"]
CONCURRENT_INDEXES = [
    "CREATE INDEX sessions_report_mt ON sessions"
    " (site_id, started_ms, channel, source, campaign, ad_group, keyword, match_type, device)",
]
