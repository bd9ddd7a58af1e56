"""The report roll-ups gain a packed grain (keyword × source × match type as one id, see
``attribution.rollups.PACKED``): days rolled up before it lack its rows, so every roll-up
is dropped, to be rolled up again by the server's periodic round (or
``callpath reports refresh``). Roll-ups are derived data: until a day is rolled up again,
reports read its sessions, with the same numbers.
"""

STATEMENTS = [
    "DELETE FROM report_session_days",
    "DELETE FROM report_days",
]
