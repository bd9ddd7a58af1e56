"""Reserved calls (予約型コール): the API, the voice answer, the texts and jobs, the lead's
rebooking page and the KPIs. Which number serves which window is :mod:`pool.reservations`."""
