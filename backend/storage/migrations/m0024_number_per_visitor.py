"""One number per visitor: a site option, and the target each visitor saw last.

- ``sites.number_per_visitor``: 0 (default) leases one number per target the page shows;
  1 leases one number per visitor that stands in for every target of the site (a session
  pool, as CallRail's). The numbers come from the pool of ``sites.default_target_id`` (or,
  when it is unset, of the site's first target with a pool); a call to one is forwarded to
  the target the visitor saw last, or to that default target.
- ``sessions.last_target_id``: the target of the site the visitor's pages showed last, as
  the snippet reported it (the ``found`` runs of ``/v1/session``, the ``seen`` targets of a
  page-view heartbeat). No foreign key: a target removed later must not block retention.
"""

STATEMENTS = [
    "ALTER TABLE sites ADD COLUMN number_per_visitor INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE sites ADD COLUMN default_target_id BIGINT",
    "ALTER TABLE sessions ADD COLUMN last_target_id BIGINT",
]
