"""First run: the one-time set-up code, and where each site's tag was last seen.

- ``setup_codes``: the SHA-256 of the code that lets the first administrator be created on
  a fresh install (``/setup``). Kept in the database rather than in a process's memory, so
  every worker of ``callpath serve --workers N`` accepts the code printed at start. One
  use (``used_ms``), and it expires (``expires_ms``).
- ``site_tag_hosts``: per site and page origin (``https://www.example.jp``), when the
  snippet last reported a page view from there: what the dashboard's getting-started
  checklist and the site page show as "tag seen". Written at most once a minute per site
  and origin by each process, at most ``MAX_HOSTS`` origins a site.
"""

STATEMENTS = [
    """CREATE TABLE setup_codes (
        id {pk},
        code_hash TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        used_ms BIGINT
    )""",
    """CREATE TABLE site_tag_hosts (
        site_id BIGINT NOT NULL REFERENCES sites(id),
        origin TEXT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        PRIMARY KEY (site_id, origin)
    )""",
]
