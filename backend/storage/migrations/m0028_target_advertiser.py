"""A site key for several advertisers (portals, issue #16): the advertiser of a target.

``targets.advertiser_id``: the advertiser a business number (and its pool, numbers, leases
and calls) belongs to; NULL, the default and every target written before, means the
site's own advertiser, so nothing is filled and the column costs nothing to add. A target
of another advertiser than its site's is what lets one site key (one snippet on a portal's
pages) show numbers of several advertisers, each credited with its own calls.
"""

STATEMENTS = [
    "ALTER TABLE targets ADD COLUMN advertiser_id BIGINT REFERENCES advertisers(id)",
    "CREATE INDEX targets_advertiser ON targets (advertiser_id)",
]
