"""Tracking numbers keep their national and international display forms.

A visit that leases a number answers the snippet with both forms; formatting with
libphonenumber costs more than the rest of the claim, so it is done once, when the number
is added. Numbers added before this migration have '' and are formatted when leased.
"""

STATEMENTS = [
    "ALTER TABLE tracking_numbers ADD COLUMN national TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE tracking_numbers ADD COLUMN international TEXT NOT NULL DEFAULT ''",
]
