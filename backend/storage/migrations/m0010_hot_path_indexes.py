"""Indexes of the visit's hot path.

- ``sessions_site_started`` is dropped: ``sessions_report`` begins with the same two
  columns, so every query that used it can use ``sessions_report``, and every new session
  paid for keeping both.
- ``tracking_numbers_pool`` gains ``id``, the tie-break of a claim's
  ``ORDER BY last_released_ms, id``. SQLite has the row id in every index already;
  PostgreSQL otherwise sorts every free number of the pool (all of them share
  ``last_released_ms = 0`` until first used) to return one.
"""

STATEMENTS = [
    "DROP INDEX IF EXISTS sessions_site_started",
    "DROP INDEX IF EXISTS tracking_numbers_pool",
    "CREATE INDEX tracking_numbers_pool"
    " ON tracking_numbers (pool_id, status, last_released_ms, id)",
]
