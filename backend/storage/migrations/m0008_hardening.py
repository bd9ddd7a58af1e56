"""Hardening: find a site's sessions from one address quickly, for the live-lease cap."""

STATEMENTS = [
    "CREATE INDEX sessions_ip_site ON sessions (ip_hash, site_id)",
]
