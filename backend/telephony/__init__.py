"""Telephony: answering calls at once, recording them afterwards, never losing one.

- :mod:`~backend.telephony.signature` checks who sent a webhook (Twilio, a PBX).
- :mod:`~backend.telephony.verbs` is a call's answer as a sequence of verbs (Say, Dial,
  Gather...); :mod:`~backend.telephony.twiml` writes them for Twilio and
  :func:`backend.telephony.pbx.as_json` for a PBX.
- :mod:`~backend.telephony.options` declares the call options once (settings, storage,
  CLI, docs).
- :mod:`~backend.telephony.routing` keeps number -> forwarding target in memory.
- :mod:`~backend.telephony.calls` stores calls and their callbacks (idempotent, ordered).
- :mod:`~backend.telephony.recorder` does the storing after the answer, retrying while
  storage is down.
- :mod:`~backend.telephony.cdr` imports call detail records.
"""
