"""Text messages and durable jobs (issue #19, shared with call flows #18).

- ``jobs``: work to do at a time (a reminder, a retry), kept in the database so it survives
  restarts. ``job_key`` names one piece of work (a second ``schedule`` of the same key
  re-plans it instead of adding another); ``ref`` names what it is about
  (``reservation:12``) so everything about one thing can be cancelled at once. A job is
  claimed by one instance with a lease (``lease_owner`` until ``lease_until_ms``): another
  instance takes it over only once the lease has run out. ``useful_until_ms``: past it the
  job is not run but dropped (``status = 'dropped'``), and counted.
- ``sms_messages``: every text sent (or refused), its Twilio sid and delivery status as
  the status callback reported it. ``dedupe_key`` makes a send idempotent: a job that runs
  again after a crash finds its message and does not text twice.
- ``sms_optouts``: numbers that replied STOP (or 停止…): never texted again until they
  reply START.
- ``sms_templates``: editable text per advertiser (0: the server's own, for every
  advertiser), kind and language.
"""

STATEMENTS = [
    """CREATE TABLE jobs (
        id {pk},
        kind TEXT NOT NULL,
        job_key TEXT NOT NULL,
        ref TEXT NOT NULL DEFAULT '',
        payload {json} NOT NULL DEFAULT '{}',
        due_ms BIGINT NOT NULL,
        useful_until_ms BIGINT,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 5,
        lease_owner TEXT NOT NULL DEFAULT '',
        lease_until_ms BIGINT,
        last_error TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        done_ms BIGINT
    )""",
    "CREATE UNIQUE INDEX jobs_job_key ON jobs (job_key)",
    "CREATE INDEX jobs_due ON jobs (status, due_ms)",
    "CREATE INDEX jobs_ref ON jobs (ref, status)",
    """CREATE TABLE sms_messages (
        id {pk},
        dedupe_key TEXT,
        advertiser_id BIGINT,
        ref TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT '',
        to_number TEXT NOT NULL,
        sender TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'sending',
        provider_sid TEXT,
        error_code TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        sent_ms BIGINT,
        delivered_ms BIGINT,
        updated_ms BIGINT NOT NULL
    )""",
    "CREATE UNIQUE INDEX sms_messages_dedupe ON sms_messages (dedupe_key)",
    "CREATE UNIQUE INDEX sms_messages_sid ON sms_messages (provider_sid)",
    "CREATE INDEX sms_messages_ref ON sms_messages (ref, created_ms)",
    """CREATE TABLE sms_optouts (
        phone TEXT PRIMARY KEY,
        keyword TEXT NOT NULL DEFAULT '',
        at_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE sms_templates (
        advertiser_id BIGINT NOT NULL DEFAULT 0,
        kind TEXT NOT NULL,
        lang TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (advertiser_id, kind, lang)
    )""",
]
