"""How sure a call's match is, why, and which sessions were considered (issue #21).

- ``match_confidence``: ``exact`` (a visit code, later), ``high``, ``medium``, ``low``, or
  ``''`` when the call has no session to be sure of (none, static source, an overflow
  number shared by several) or was matched before confidences existed.
- ``match_reason``: the evidence that decided it, a short code (docs/attribution.md).
- ``match_candidate_ids``: the session ids considered, as a JSON list (``match_candidates``
  keeps their count).

Calls already stored keep ``''``: what the matcher knew then is not kept, so they are not
rated after the fact (and a repeat caller does not follow them).
"""

STATEMENTS = [
    "ALTER TABLE calls ADD COLUMN match_confidence TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN match_reason TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN match_candidate_ids TEXT NOT NULL DEFAULT '[]'",
]
