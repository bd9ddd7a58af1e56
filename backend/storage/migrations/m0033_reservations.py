"""Reserved calls (予約型コール, issue #19).

- ``reservation_numbers``: numbers set aside for reservations (not leased to visitors);
  ``advertiser_id`` NULL: shared by every advertiser of the portal.
- ``reservation_phones``: the phones an advertiser calls its leads from (registered).
- ``reservations``: one lead's booked window on one number; ``lead_ref`` is the portal's
  own lead id (a second POST with it is the same reservation). ``hold_start_ms`` /
  ``hold_end_ms``: the window with its buffers, rounded out to the calendar's grain.
- ``reservation_slots``: one row per number and grain of time a reservation holds; its
  primary key is the constraint that a number is never booked twice for the same time, on
  both stores, whatever the code above it does.
- ``reservation_attempts``: every call to a reservation number (bridged, outside the
  window, refused) with its dial outcome.
- ``reservation_connections``: the billable events (接続課金): one row per reservation that
  connected (talk time at least the threshold), for billing to read.
"""

STATEMENTS = [
    """CREATE TABLE reservation_numbers (
        id {pk},
        number TEXT NOT NULL UNIQUE,
        advertiser_id BIGINT REFERENCES advertisers(id),
        active INTEGER NOT NULL DEFAULT 1,
        created_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE reservation_phones (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        phone TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL
    )""",
    "CREATE UNIQUE INDEX reservation_phones_phone ON reservation_phones (advertiser_id, phone)",
    "CREATE INDEX reservation_phones_by_phone ON reservation_phones (phone)",
    """CREATE TABLE reservations (
        id {pk},
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        lead_ref TEXT NOT NULL,
        lead_name TEXT NOT NULL DEFAULT '',
        lead_phone TEXT NOT NULL,
        consent INTEGER NOT NULL DEFAULT 0,
        lang TEXT NOT NULL DEFAULT 'ja',
        medium TEXT NOT NULL DEFAULT '',
        campaign TEXT NOT NULL DEFAULT '',
        session_id BIGINT,
        number_id BIGINT NOT NULL REFERENCES reservation_numbers(id),
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        hold_start_ms BIGINT NOT NULL,
        hold_end_ms BIGINT NOT NULL,
        timezone TEXT NOT NULL DEFAULT 'Asia/Tokyo',
        status TEXT NOT NULL DEFAULT 'booked',
        rebooks INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        first_attempt_ms BIGINT,
        connected_ms BIGINT,
        talk_s INTEGER NOT NULL DEFAULT 0,
        outcome TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        cancelled_ms BIGINT
    )""",
    "CREATE UNIQUE INDEX reservations_lead ON reservations (advertiser_id, lead_ref)",
    "CREATE INDEX reservations_number ON reservations (number_id, hold_start_ms)",
    "CREATE INDEX reservations_start ON reservations (advertiser_id, start_ms)",
    """CREATE TABLE reservation_slots (
        number_id BIGINT NOT NULL REFERENCES reservation_numbers(id),
        slot_ms BIGINT NOT NULL,
        reservation_id BIGINT NOT NULL REFERENCES reservations(id),
        PRIMARY KEY (number_id, slot_ms)
    )""",
    "CREATE INDEX reservation_slots_reservation ON reservation_slots (reservation_id)",
    """CREATE TABLE reservation_attempts (
        id {pk},
        reservation_id BIGINT REFERENCES reservations(id),
        number_id BIGINT NOT NULL REFERENCES reservation_numbers(id),
        call_sid TEXT NOT NULL UNIQUE,
        caller TEXT NOT NULL,
        party TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        dial_status TEXT NOT NULL DEFAULT '',
        talk_s INTEGER NOT NULL DEFAULT 0,
        recording_url TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX reservation_attempts_reservation ON reservation_attempts (reservation_id)",
    """CREATE TABLE reservation_connections (
        id {pk},
        reservation_id BIGINT NOT NULL UNIQUE REFERENCES reservations(id),
        advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
        medium TEXT NOT NULL DEFAULT '',
        call_sid TEXT NOT NULL,
        connected_ms BIGINT NOT NULL,
        talk_s INTEGER NOT NULL
    )""",
    "CREATE INDEX reservation_connections_advertiser"
    " ON reservation_connections (advertiser_id, connected_ms)",
]
