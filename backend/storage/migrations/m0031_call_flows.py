"""Call flows (issue #18): a flow document per business number (target), every version kept,
the round-robin counters, and each call's journey through its flow.

- ``call_flows``: one row per saved version of a target's flow (``version`` counts from 1
  per target); the highest version is the one calls take. ``document`` is the JSON the
  flow was saved as (``backend.telephony.flowdoc``); ``author`` who saved it (an e-mail,
  ``api:<token name>`` or ``cli``); ``rolled_back_from`` the version a rollback copied.
  An empty document (``''``) is a removed flow: plain forwarding again.
- ``flow_counters``: where a round-robin ring step starts its next call, one counter per
  (target, step), moved atomically by whichever instance takes the call.
- ``call_journey``: what a call met in its flow, in order: the steps, each destination
  tried and its outcome, the menu choices, the queue wait, the voicemail, a fallback.
- ``flow_audio``: sound files an advertiser uploaded for its prompts (mp3 or wav, checked,
  at most ``backend.telephony.audio.MAX_BYTES``), kept base64-encoded in ``data`` (text
  moves unchanged between the stores and through ``migrate-store``); Twilio fetches them
  at signed URLs that expire.
- On ``calls``: ``menu_path`` (the menu choices, ``step:digit`` joined by ``>``),
  ``answered_by`` (the destination that answered), ``queue_wait_s`` (NULL: never queued),
  ``voicemail_url`` / ``voicemail_sid``, ``flow_version`` (NULL: no flow) and
  ``flow_fallback`` (why the flow was not followed and the call was put through plainly).
"""

STATEMENTS = [
    """CREATE TABLE call_flows (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        target_id BIGINT NOT NULL REFERENCES targets(id),
        version INTEGER NOT NULL,
        document TEXT NOT NULL,
        author TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        rolled_back_from INTEGER,
        created_ms BIGINT NOT NULL,
        UNIQUE (target_id, version)
    )""",
    """CREATE TABLE flow_counters (
        target_id BIGINT NOT NULL,
        step TEXT NOT NULL,
        n BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (target_id, step)
    )""",
    """CREATE TABLE call_journey (
        id {pk},
        call_id BIGINT NOT NULL REFERENCES calls(id),
        ts_ms BIGINT NOT NULL,
        step TEXT NOT NULL DEFAULT '',
        what TEXT NOT NULL,
        destination TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        wait_s INTEGER
    )""",
    "CREATE INDEX call_journey_call ON call_journey (call_id, ts_ms)",
    """CREATE TABLE flow_audio (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        name TEXT NOT NULL DEFAULT '',
        content_type TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        data TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX flow_audio_advertiser ON flow_audio (advertiser_id, id)",
    "CREATE INDEX call_journey_destination ON call_journey (destination, what)",
    "ALTER TABLE calls ADD COLUMN menu_path TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN answered_by TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN queue_wait_s INTEGER",
    "ALTER TABLE calls ADD COLUMN voicemail_url TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN voicemail_sid TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE calls ADD COLUMN flow_version INTEGER",
    "ALTER TABLE calls ADD COLUMN flow_fallback TEXT NOT NULL DEFAULT ''",
]
