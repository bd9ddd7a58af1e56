"""Pay-per-call billing for media portals (issue #20).

A portal bills each advertiser for the calls it sends: price plans (:mod:`.plans`) say what
a call, an answered minute or a connected reserved call costs and on which terms; billable
events (:mod:`.events`) are derived from calls with the price applied and the reason a call
is or is not billed; disputes (:mod:`.disputes`) take a call out once the portal accepts
them; monthly statements (:mod:`.statements`) total a month with consumption tax and are
locked once closed, later changes becoming adjustments on the next month; the revenue
report (:mod:`.revenue`) sums them per advertiser and month. Money is integer yen
throughout (:mod:`.money`), never a float.

Like the rest of ``attribution/``, nothing here imports ``backend/``.
"""
