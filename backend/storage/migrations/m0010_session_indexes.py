"""Drop ``sessions_site_started``: ``sessions_report`` begins with the same two columns.

Every query that used it can use ``sessions_report`` instead, and every new session paid
for keeping both.
"""

STATEMENTS = [
    "DROP INDEX IF EXISTS sessions_site_started",
]
