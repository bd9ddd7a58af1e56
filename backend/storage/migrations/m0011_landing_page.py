"""``sessions.landing_page``: the landing URL without query string and fragment.

Reports by landing page grouped ``landing_url``, which carries the click id of an ad click
(``?gclid=…``): one group per paid session, hundreds of thousands for a portal's month, all
sent to Python to be merged by page (3 s for 333,000 sessions in ``bench.reports`` once its
seed had click ids). New sessions store the page itself (``attribution.sources.landing_page``);
this fills it for the ones already recorded by cutting the URL at its first ``?`` or ``#``.
Reports still pass each grouped value through ``landing_page``, which gives the same page
for the cut URL as for the whole one (``http://host`` and ``http://host/`` included).

``sessions_landing`` lets a report read the page from the index, as ``sessions_report``
does for the other dimensions, instead of every session's row (1,022 against 436 ms for
every advertiser's month in the bench). A page is at most 512 characters, so an entry stays
under PostgreSQL's limit on the size of one index entry whatever the characters.

It landed as one unit (the ALTER, the UPDATE of every session, the index), which held
``sessions`` and every running instance's visits for all of it (4.2 s at 300,000
sessions). It now runs in steps (see ``stepwise.py``): an exception to "never edit a landed
migration", safe because a database that applied it has version 11 recorded and never runs
it again, and one that applies it now ends exactly as the single unit left it
(``tests/storage/test_migration_landing_page.py`` compares both).
"""

from backend.storage.migrations import Backfill

_CUT = (
    "CASE"
    " WHEN {strpos}(landing_url, '?') > 0 AND ({strpos}(landing_url, '#') = 0"
    "   OR {strpos}(landing_url, '?') < {strpos}(landing_url, '#'))"
    " THEN substr(landing_url, 1, {strpos}(landing_url, '?') - 1)"
    " WHEN {strpos}(landing_url, '#') > 0"
    " THEN substr(landing_url, 1, {strpos}(landing_url, '#') - 1)"
    " ELSE landing_url END"
)

STATEMENTS = [
    "ALTER TABLE sessions ADD COLUMN landing_page TEXT NOT NULL DEFAULT ''",
]
# Filled in batches after the column is added, while visits go on (see stepwise.py). A
# session the application recorded meanwhile already has its page and is left alone.
FILL = Backfill(
    table="sessions",
    set=f"landing_page = substr({_CUT}, 1, 512)",
    pending="landing_url <> '' AND landing_page = ''",
)
# Built after the backfill, once, rather than kept up through it.
CONCURRENT_INDEXES = [
    "CREATE INDEX sessions_landing ON sessions (site_id, started_ms, landing_page)",
]
