"""Settings, declared once as data.

Every setting is a field of :class:`Settings` with its default and help text in the
field's metadata. Values come, in increasing precedence, from the defaults, a TOML file
(``CALLPATH_CONFIG`` or ``--config``) and ``CALLPATH_<NAME>`` environment variables.
``docs/settings.md`` documents every one, one table per group of related settings
(:data:`GROUPS`); a test keeps the two in step.

Values are read strictly: a boolean is one of :data:`BOOLEAN_WORDS`, a number must parse
whole and lie in the range declared next to its field (``low``/``high``); anything else
stops start-up with an error naming the setting, where it came from and what is accepted.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attribution.billing.money import check_registration_number
from attribution.billing.statements import Terms
from backend.telephony.options import setting_field
from pool.destinations import parse_countries
from pool.numbers import MAX_REST_MS, MAX_TTL_MS, MIN_TTL_MS

ENV_PREFIX = "CALLPATH_"
DEFAULT_SECRET_KEY = "change-me"
# What one process serves (`role`): everything, or only the carriers' webhooks.
ROLES = ("all", "telephony")


# What a boolean setting may say, in the environment or as a TOML string.
BOOLEAN_WORDS = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "on": True,
    "off": False,
}
# Settings that were removed, with why: named in a file, they stop start-up with this.
REMOVED = {
    "geoip_asn_db": "it was never read (no data-centre detection uses it); remove the line",
}


def _setting(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A field with its help text and, for numbers, the accepted range (inclusive); for text
    that names one of a few things, the ``choices``."""
    meta = {"help": help, "low": low, "high": high, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one callpath process."""

    database_url: str = _setting(
        "sqlite:///callpath.db",
        "Where data lives: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` "
        "or `postgresql://user@host/db`.",
    )
    sqlite_wal_max_bytes: int = _setting(
        64 * 1024 * 1024,
        "SQLite only: once the write-ahead log (`callpath.db-wal`) passes this size, the "
        "background checkpoint truncates it (docs/operations.md).",
        low=1,
    )
    db_statement_timeout_ms: int = _setting(
        10_000,
        "PostgreSQL only: longest a read or a short unit of work (a visit, a claim) may run "
        "before the server cancels it, waiting on locks included; imports, purges and "
        "migrations are exempt. 0: no limit.",
        low=0,
    )
    db_acquire_timeout_ms: int = _setting(
        10_000,
        "PostgreSQL only: longest a request waits for a pooled connection. 0: no limit.",
        low=0,
    )
    db_command_timeout_ms: int = _setting(
        12_000,
        "PostgreSQL only: longest a read waits for the server's answer on this side (a "
        "stalled network or server the statement timeout cannot reach). 0: no limit.",
        low=0,
    )
    visit_timeout_ms: int = _setting(
        5_000,
        "Longest `POST /v1/session` waits for storage; past it the visit is answered "
        "untracked (no swaps: the page keeps its own numbers), well before the snippet's own "
        "10 s abort. 0: no limit.",
        low=0,
    )
    secret_key: str = _setting(
        DEFAULT_SECRET_KEY,
        "Key that signs session tokens and cookies and salts the stored address hashes: "
        "at least 32 random characters (`callpath serve` refuses the default or a shorter "
        "one).",
    )
    public_url: str = _setting(
        "",
        "The address the outside world uses to reach this server (e.g. "
        "`https://calls.example.com`); webhook signatures are checked against it.",
    )
    host: str = _setting("127.0.0.1", "Address `callpath serve` listens on.")
    port: int = _setting(8000, "Port `callpath serve` listens on.", low=1, high=65_535)
    log_level: str = _setting("info", "Log level: debug, info, warning or error.")
    log_format: str = _setting(
        "text",
        "How `callpath serve` writes its log: `text` (a readable line per event) or `json` "
        "(one JSON object per line: time, level, logger, message, the request id and "
        "Twilio CallSid it belongs to; docs/operations.md).",
    )
    metrics_token: str = _setting(
        "",
        "Bearer token that lets a scraper read `/metrics` from any address "
        "(`Authorization: Bearer ...`); empty: only the allowed networks may.",
    )
    metrics_allowed_networks: str = _setting(
        "127.0.0.0/8, ::1",
        "Addresses or networks that may read `/metrics` without the token, comma separated; "
        "default loopback (a Prometheus on the same host); empty: the token only.",
    )
    role: str = _setting(
        "all",
        "What this process serves: `all` (everything), or `telephony` (only the call webhooks "
        "and `/healthz`, no background jobs): a process of its own for the carriers, so a "
        "caller's webhook does not wait behind a rush of visits (docs/telephony.md).",
        choices=ROLES,
    )
    max_body_bytes: int = _setting(
        16384,
        "Largest request body accepted by the public `/v1/*` endpoints, the sign-in forms and "
        "the pool API (else 413).",
        low=1,
    )
    lease_ttl_seconds: int = _setting(
        1800,
        "Default idle time after which a lease without heartbeat ends.",
        low=MIN_TTL_MS // 1000,
        high=MAX_TTL_MS // 1000,
    )
    lease_grace_seconds: int = _setting(
        600,
        "Default time an ended lease stays matchable for calls placed right after.",
        low=0,
        high=MAX_REST_MS // 1000,
    )
    lease_cooldown_seconds: int = _setting(
        900,
        "Default rest a released number takes before it is leased again.",
        low=0,
        high=MAX_REST_MS // 1000,
    )
    lease_sweep_seconds: int = _setting(
        60,
        "How often the server ends leases past their ttl and retires numbers waiting to "
        "retire, so a quiet pool's numbers come free without waiting for its next claim; "
        "0 turns it off.",
        low=0,
    )
    heartbeat_seconds: int = _setting(
        60,
        "How often the snippet renews its lease while the page is visible (less than the "
        "lease ttl). A page whose last beat is more than two beats old counts as closed when "
        "a call is matched.",
        low=1,
        high=3600,
    )
    late_call_window_seconds: int = _setting(
        7200,
        "How long after a number's holder lets it go a call to that number may still be "
        "theirs (dialled late, from the page they kept or their phone's call history): a "
        "call to the number's next holder within this window is matched with confidence "
        "`low`, both sessions kept as candidates (docs/attribution.md).",
        low=0,
        high=MAX_REST_MS // 1000,
    )
    upload_min_confidence: str = _setting(
        "low",
        "The lowest match confidence a call may have to be sent to an ad platform (conversion "
        "files, GA4) when the upload does not say: `low` sends every call matched to one "
        "visit, `medium` or `high` leave out calls another visit may have made. Ambiguous and "
        "overflow matches are never sent unless an upload asks (docs/exports.md).",
        choices=("exact", "high", "medium", "low"),
    )
    visit_code_wait_seconds: int = _setting(
        2,
        "How long the voice answer of a number whose site has visit codes on listens for the "
        "code's digits (`<Gather timeout>`) before the call flow goes on; a caller who dials "
        "by hand waits this long (docs/telephony.md#visit-codes).",
        low=1,
        high=2,
    )
    visit_code_days: int = _setting(
        30,
        "How long a visit code keeps naming its visit: a caller who redials from the "
        "phone's call history within this many days is still matched to the visit "
        "(docs/attribution.md#visit-codes).",
        low=1,
        high=365,
    )
    twilio_auth_token: str = _setting(
        "", "Twilio auth token used to verify `X-Twilio-Signature` on webhooks."
    )
    geoip_city_db: str = _setting(
        "", "Path to a GeoLite2/GeoIP2 City database (.mmdb); empty disables geo look-ups."
    )
    examples_dir: str = _setting(
        "",
        "Folder of example pages to serve under `/examples/`. They are served only when this is"
        " set or `CALLPATH_DEMO_CALLS` is on (`make run`), then from the bundled examples when"
        " this is empty.",
    )
    # attribution
    trusted_proxies: str = _setting(
        "",
        "Addresses or networks of your own reverse proxies and load balancers, comma "
        "separated (e.g. `127.0.0.1` for nginx on the same host, `10.0.0.0/8`). Only a "
        "request from one of them has its `X-Forwarded-For` (the visitor's address, which "
        "every per-address limit keys on) and `X-Forwarded-Proto` believed; empty trusts no "
        "one (docs/proxy.md).",
    )
    # telephony (Twilio, other carriers and PBXs, call notifications)
    twilio_signing_key: str = _setting(
        "",
        "Twilio SharedKey secret, used instead of the auth token when Twilio signs with "
        "`X-Twilio-Webhooks-Signature-Settings`; empty uses the auth token.",
    )
    # Call options: their defaults, help and ranges are declared in CALL_OPTIONS
    # (backend/telephony/options.py), which also drives storage, the CLI and the docs.
    dial_timeout_seconds: int = setting_field("dial_timeout_seconds")
    caller_id_policy: str = setting_field("caller_id_policy")
    record_calls: bool = setting_field("record_calls")
    recording_notice: str = _setting(
        "この通話は品質向上のため録音させていただきます。",
        "Spoken to the caller before a recorded call is put through; empty says nothing.",
    )
    whisper: bool = setting_field("whisper")
    voice_language: str = setting_field("voice_language")
    voice_name: str = setting_field("voice_name")
    routing_refresh_seconds: int = _setting(
        30,
        "How often the in-memory routing table (number -> forwarding target) is reloaded.",
        low=1,
    )
    call_write_timeout_seconds: float = _setting(
        5.0, "Longest one call write may take before it is retried later from the queue.", low=0.1
    )
    call_spool_path: str = _setting(
        "",
        "The call journal: every call event is appended to this file and synced before the "
        "webhook is answered, and replayed at start, so a crash loses no answered call. "
        "Empty: beside the SQLite file (`callpath.db.calls.jsonl`), or for PostgreSQL "
        "`$XDG_STATE_HOME/callpath/calls-<digest of the URL>.jsonl`; `off`: memory only.",
    )
    calls_webhook_secret: str = _setting(
        "", "Secret that signs `POST /webhooks/calls` (other carriers and PBXs); empty refuses."
    )
    calls_webhook_tolerance_seconds: int = _setting(
        300, "Replay window of `X-Callpath-Timestamp` on `POST /webhooks/calls`.", low=1
    )
    smtp_host: str = _setting("", "SMTP server for call notification emails; empty disables.")
    smtp_port: int = _setting(25, "SMTP port.", low=1, high=65_535)
    smtp_username: str = _setting("", "SMTP login (empty: no authentication).")
    smtp_password: str = _setting("", "SMTP password.")
    smtp_starttls: bool = _setting(False, "Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = _setting("callpath@localhost", "Sender address of notification emails.")
    notify_attempts: int = _setting(
        5, "How many times a notification is tried before it is marked failed.", low=1
    )
    notify_backoff_seconds: float = _setting(
        2.0, "Wait before the second notification attempt; doubled after each failure.", low=0
    )
    outbound_allow_hosts: str = _setting(
        "",
        "Receivers inside your own network that notification webhooks and the GA4 endpoint "
        "may reach: comma-separated host names, addresses or networks (`hooks.internal, "
        "10.0.0.7, 192.168.5.0/24`). Every other loopback, private, link-local or otherwise "
        "non-public destination is refused (docs/telephony.md, Notifications).",
    )
    # text messages and durable jobs
    twilio_account_sid: str = _setting(
        "",
        "Twilio account SID (`AC…`): with the auth token, it sends text messages through the "
        "Messages API and fetches recordings; empty: no texts, and recordings stay at Twilio "
        "(only their link is kept).",
    )
    twilio_api_url: str = _setting(
        "https://api.twilio.com",
        "Base URL of Twilio's REST API (Messages, recordings); a recording whose URL starts "
        "elsewhere is not fetched; tests point it at a stand-in.",
    )
    sms_sender: str = _setting(
        "",
        "Who texts come from: a number (`+8150…`), an alphanumeric sender id (`CALLPATH`, 1-11 "
        "letters, digits or spaces) or a Messaging Service SID (`MG…`); empty: no texts "
        "(docs/telephony.md#text-messages).",
    )
    jobs_poll_seconds: int = _setting(
        5,
        "How often the server looks for durable jobs that are due (reminders, retries); 0 "
        "turns the runner off in this process (docs/operations.md#durable-jobs).",
        low=0,
        high=3600,
    )
    jobs_lease_seconds: int = _setting(
        120,
        "How long an instance holds a job it claimed; a job whose instance died is taken over "
        "by another one after this.",
        low=5,
        high=86_400,
    )
    # reserved calls
    reservation_reminder_minutes: int = _setting(
        15,
        "How long before a reserved window the lead is texted a reminder (T-15 min).",
        low=1,
        high=1440,
    )
    reservation_buffer_minutes: int = _setting(
        5,
        "Rest a reservation number takes before and after each window it serves, so a late "
        "call of one lead never reaches the next.",
        low=0,
        high=240,
    )
    reservation_slot_minutes: int = _setting(
        5,
        "Grain of the reservation calendar: windows and buffers are rounded out to it, and "
        "the stored one-row-per-slot constraint uses it (docs/reservations.md).",
        low=1,
        high=60,
    )
    reservation_connected_seconds: int = _setting(
        10,
        "Talk time from which a reserved call counts as connected (and billable).",
        low=0,
        high=3600,
    )
    reservation_retry_minutes: int = _setting(
        5,
        "After a reserved call the lead did not answer: when the lead is texted that the "
        "advertiser will call again (within the window).",
        low=0,
        high=240,
    )
    # --- api / exports ---
    retention_days: int = _setting(
        0,
        "Days sessions and page views are kept; older ones are purged (calls stay, unlinked). "
        "0 keeps them forever.",
        low=0,
    )
    retention_interval_seconds: int = _setting(
        3600, "How often the server runs the retention purge while it is up.", low=1
    )
    report_rollup_seconds: int = _setting(
        300,
        "How often the server rolls up the reports' closed days not yet rolled up or changed "
        "since (daily roll-ups, docs/dashboard.md); 0 turns it off (reports then read more "
        "sessions; `callpath reports refresh` still works).",
        low=0,
    )
    ga4_push_seconds: int = _setting(
        300,
        "How often the server sends new calls to GA4 for sites with GA4 settings; 0 turns "
        "the automatic push off (`callpath export ga4` still works).",
        low=0,
    )
    conversion_upload_seconds: int = _setting(
        3600,
        "How often the server runs the conversion actions' direct uploads (Google Ads API, "
        "Meta Conversions API, Yahoo! JAPAN Ads API); 0 turns it off (`POST …/upload/run` "
        "still works).",
        low=0,
    )
    google_ads_api_base_url: str = _setting(
        "https://googleads.googleapis.com",
        "Base URL of the Google Ads API that conversion actions upload to directly "
        "(docs/exports.md, Direct uploads); a stand-in's for tests and staging.",
    )
    google_oauth_token_url: str = _setting(
        "https://oauth2.googleapis.com/token",
        "Where a Google Ads upload trades its refresh token for an access token.",
    )
    meta_graph_base_url: str = _setting(
        "https://graph.facebook.com",
        "Base URL of Meta's Graph API that conversion actions send Conversions API events to.",
    )
    yahoo_ads_search_api_base_url: str = _setting(
        "https://ads-search.yahooapis.jp",
        "Base URL of the Yahoo! JAPAN Search Ads API that conversion actions upload their "
        "offline conversion files to (`/api/v20/OfflineConversionService/upload`); a "
        "stand-in's for tests and staging.",
    )
    yahoo_ads_display_api_base_url: str = _setting(
        "https://ads-display.yahooapis.jp",
        "Base URL of the Yahoo! JAPAN Display Ads API that conversion actions upload display "
        "clicks (`YJAD.` yclids) to (`/api/v19/OfflineConversionService/upload`).",
    )
    yahoo_oauth_token_url: str = _setting(
        "https://biz-oauth.yahoo.co.jp/oauth/v1/token",
        "Where a Yahoo! JAPAN Ads upload trades its refresh token for an access token.",
    )
    # hardening (public endpoints, flood guard)
    max_webhook_body_bytes: int = _setting(
        65536, "Largest request body accepted by `/twilio/*` and `/webhooks/*` (else 413).", low=1
    )
    ip_rate_per_minute: int = _setting(
        30,
        "Session requests per minute one address (IPv4, or IPv6 /64) may make per instance, "
        "after its burst; past it visits get no tracking number. 0 turns the limit off.",
        low=0,
    )
    ip_rate_burst: int = _setting(
        20,
        "Session requests one address may make at once before the per-minute rate applies.",
        low=1,
    )
    ip_max_live_sessions: int = _setting(
        4,
        "Sessions from one address (IPv4, or IPv6 /64) that may hold a site's tracking numbers "
        "at once, counted in the database; keep it well below the smallest pool. 0: no cap.",
        low=0,
    )
    login_failures_per_hour: int = _setting(
        10,
        "Failed dashboard sign-ins allowed per hour, per address and per account, after the "
        "burst; past it sign-in answers 429 without checking the password. 0: no limit.",
        low=0,
    )
    login_failure_burst: int = _setting(
        10, "Failed sign-ins one address, or one account, may make before the hourly rate.", low=1
    )
    # dashboard
    dashboard_stream_seconds: int = _setting(
        300,
        "How long one live-calls event stream stays open; the browser then reconnects and "
        "resumes after the last call it saw.",
        low=1,
    )
    dashboard_poll_ms: int = _setting(
        1000,
        "How often the live-calls stream looks for new and changed calls (milliseconds).",
        low=1,
    )
    # billing for portals (issue #20)
    billing_issuer_name: str = _setting(
        "",
        "The portal's name as it issues pay-per-call statements (適格請求書の発行事業者).",
    )
    billing_registration_number: str = _setting(
        "",
        "The portal's qualified invoice registration number (登録番号): `T` and 13 digits, "
        "the check digit checked at start-up; printed on every statement. Empty: none.",
    )
    billing_tax_percent: int = _setting(
        10,
        "Consumption tax on statements, in percent; computed once per statement on its "
        "taxable total and rounded down (docs/billing.md).",
        low=0,
        high=100,
    )
    billing_currency: str = _setting(
        "JPY",
        "The currency of prices and statements (amounts are whole units, no minor unit).",
    )
    billing_timezone: str = _setting(
        "Asia/Tokyo",
        "The time zone of billing months and of the days plans take effect.",
    )
    # call analysis: recordings kept by callpath, transcripts (docs/privacy.md); the Twilio
    # account SID and REST API URL are the text messages' (above)
    recording_storage: str = _setting(
        "local",
        "Where fetched recordings are kept: `local` (the folder `CALLPATH_RECORDING_DIR`), "
        "`s3` (an S3-compatible bucket: MinIO, AWS, GCS interoperability) or `off` (not "
        "fetched).",
        choices=("local", "s3", "off"),
    )
    recording_dir: str = _setting(
        "recordings", "Folder of the `local` recording storage (created when missing)."
    )
    recording_s3_endpoint: str = _setting(
        "", "Endpoint URL of the S3-compatible storage; empty: AWS's own for the region."
    )
    recording_s3_bucket: str = _setting("", "Bucket recordings are kept in (`s3` storage).")
    recording_s3_region: str = _setting("us-east-1", "Region of the bucket.")
    recording_s3_access_key: str = _setting("", "Access key id for the bucket.")
    recording_s3_secret_key: str = _setting("", "Secret access key for the bucket.")
    recording_delete_at_carrier: bool = _setting(
        False,
        "Delete a recording at Twilio once callpath has stored it (one try; a failure is "
        "noted on the recording and leaves it there).",
    )
    recording_fetch_attempts: int = _setting(
        6,
        "Tries of a recording's fetch (or transcription) before it is marked failed; the "
        "wait doubles after each, from 30 s.",
        low=1,
        high=50,
    )
    recording_jobs_seconds: int = _setting(
        5,
        "How often the server looks for recordings to fetch and transcribe; 0: never.",
        low=0,
    )
    recording_link_seconds: int = _setting(
        300,
        "How long a signed link to a recording plays before it is refused.",
        low=10,
        high=86_400,
    )
    transcription_engine: str = _setting(
        "off",
        "What turns recordings into text: `off`; `pocketsphinx` (English, its model ships "
        "inside the Python package; nothing is downloaded); `openai` (an OpenAI-compatible "
        "speech API at `CALLPATH_TRANSCRIPTION_API_URL`: the audio is sent there); "
        "`faster-whisper` (on the server, with the model folder "
        "`CALLPATH_TRANSCRIPTION_MODEL_DIR`; the `whisper` extra).",
        choices=("off", "pocketsphinx", "openai", "faster-whisper"),
    )
    transcription_api_url: str = _setting(
        "",
        "`openai` engine: the API's base URL up to its version (`https://host/v1`); each "
        "channel is sent to `{base}/audio/transcriptions`.",
    )
    transcription_api_key: str = _setting(
        "", "`openai` engine: the API key, sent as `Authorization: Bearer`; empty: none."
    )
    transcription_api_model: str = _setting(
        "whisper-1",
        "`openai` engine: the model name; it must answer `verbose_json` with timed segments.",
    )
    transcription_model_dir: str = _setting(
        "",
        "`faster-whisper` engine: the folder of a CTranslate2 Whisper model the operator "
        "installed (`model.bin`, `config.json`, `tokenizer.json`); nothing is downloaded.",
    )
    transcription_language: str = _setting(
        "",
        "The calls' language as an ISO-639-1 code (`ja`, `en`) for the `openai` and "
        "`faster-whisper` engines; empty: each recording's is detected.",
    )
    transcription_timeout_seconds: int = _setting(
        300,
        "`openai` engine: how long one channel's request may take before the try fails.",
        low=1,
        high=3600,
    )
    summary_engine: str = _setting(
        "off",
        "Summaries and suggested outcomes of transcribed calls: `off`, or `openai` (an "
        "OpenAI-compatible chat completions API at `CALLPATH_SUMMARY_API_URL`: the masked "
        "transcript is sent there).",
        choices=("off", "openai"),
    )
    summary_api_url: str = _setting(
        "",
        "`openai` summaries: the API's base URL up to its version (`https://host/v1`); "
        "requests go to `{base}/chat/completions`.",
    )
    summary_api_key: str = _setting(
        "", "`openai` summaries: the API key, sent as `Authorization: Bearer`; empty: none."
    )
    summary_model: str = _setting("", "`openai` summaries: the model name (required).")
    summary_timeout_seconds: int = _setting(
        60,
        "`openai` summaries: how long one request may take before the try fails.",
        low=1,
        high=600,
    )
    # pool: numbers, pools and leases
    forward_countries: str = _setting(
        "",
        "Countries calls may be forwarded to, as ISO codes (`JP,US`); empty: each site's own "
        "country. Premium-rate, shared-cost, personal-numbering and satellite numbers are "
        "refused whatever it says (docs/numbers.md).",
    )
    pool_safety_factor: float = _setting(
        1.0,
        "Headroom of the recommended pool size over the most numbers the observed traffic kept "
        "busy at once (held or resting, refused claims included); 1.0 is the size that would "
        "never have run out.",
        low=1,
    )
    pool_alert_utilization: float = _setting(
        0.75,
        "Peak hourly utilization above which a pool is flagged for more numbers.",
        low=0,
        high=1,
    )

    # demo
    demo_calls: bool = _setting(
        False,
        "Offer `POST /demo/call`, which places simulated calls (the example pages' "
        '"call this number" button) for a signed-in dashboard user, to tracking numbers that '
        "user may see (else 401 / 404); `make run` turns it on. Never on in production.",
    )

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from a TOML file, the environment and explicit overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = config_file or environ.get(ENV_PREFIX + "CONFIG")
        if path:
            with Path(path).open("rb") as fh:
                data = tomllib.load(fh)
            data = data.get("callpath", data)
            for key, value in data.items():
                if key in REMOVED:
                    raise ValueError(f"setting {key!r} in {path} was removed: {REMOVED[key]}")
                if key not in _FIELDS:
                    raise ValueError(f"unknown setting {key!r} in {path}")
                values[key] = _cast(key, value, f"{key} in {path}")
        for name in _FIELDS:
            env_name = ENV_PREFIX + name.upper()
            if env_name in environ:
                values[name] = _cast(name, environ[env_name], env_name)
        for key, value in overrides.items():
            if value is not None:
                values[key] = _cast(key, value, f"--{key.replace('_', '-')}")
        settings = cls(**values)
        settings.check_together()
        return settings

    def check_together(self) -> None:
        """Ranges that depend on another setting (each field's own range is declared with
        it): a heartbeat must come before the lease it renews has run out. Also the values
        a field's range cannot say: the registration number's check digit, the zone."""
        if self.billing_registration_number:
            try:
                check_registration_number(self.billing_registration_number)
            except ValueError as exc:
                raise ValueError(
                    f"setting billing_registration_number ({ENV_PREFIX}"
                    f"BILLING_REGISTRATION_NUMBER): {exc}"
                ) from exc
        try:
            ZoneInfo(self.billing_timezone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(
                f"setting billing_timezone ({ENV_PREFIX}BILLING_TIMEZONE): no time zone"
                f" {self.billing_timezone!r}"
            ) from exc
        if self.heartbeat_seconds >= self.lease_ttl_seconds:
            raise ValueError(
                f"setting heartbeat_seconds ({ENV_PREFIX}HEARTBEAT_SECONDS) must be less than"
                f" lease_ttl_seconds ({self.lease_ttl_seconds}), not {self.heartbeat_seconds}"
            )

    def forward_country_list(self) -> frozenset[str]:
        """``forward_countries`` as ISO codes (empty: each site's own country).

        Raises ValueError naming the setting when an entry is not a country.
        """
        try:
            return parse_countries(self.forward_countries)
        except ValueError as exc:
            raise ValueError(f"setting CALLPATH_FORWARD_COUNTRIES: {exc}") from exc

    def billing_terms(self) -> Terms:
        """The billing settings as the billing domain takes them."""
        return Terms(
            issuer_name=self.billing_issuer_name,
            registration_number=self.billing_registration_number.strip().upper(),
            tax_percent=self.billing_tax_percent,
            currency=self.billing_currency,
            tz=self.billing_timezone,
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


_FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def _cast(name: str, value: Any, origin: str = "") -> Any:
    """``value`` as the type of setting ``name``, strictly, within its declared range.

    ``origin`` says where the value came from (the environment variable, or the key and the
    file) for the error, which is a ValueError that stops start-up.
    """
    meta = _FIELDS[name].metadata
    kind: type = type(_FIELDS[name].default)
    where = f"setting {name} ({origin or ENV_PREFIX + name.upper()})"
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = value.strip().lower() if isinstance(value, str) else None
        if word not in BOOLEAN_WORDS:
            accepted = "/".join(BOOLEAN_WORDS)
            raise ValueError(f"{where}: {value!r} is not a boolean; use one of {accepted}")
        return BOOLEAN_WORDS[word]
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: {value!r} is not a string")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{where}: {value!r} is not one of {', '.join(choices)}")
        return value
    number = _number(kind, value)
    if number is None:
        raise ValueError(f"{where}: cannot read {value!r} as {_KIND_WORDS[kind]}")
    low, high = meta.get("low"), meta.get("high")
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{where}: {number} is out of range; {_range_words(low, high)}")
    return number


_KIND_WORDS = {int: "a whole number", float: "a number"}


def _number(kind: type, value: Any) -> int | float | None:
    # Only what reads whole as the type: never a boolean, never 1.5 as an int, never nan.
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text) if kind is int else float(text)
        except ValueError:
            return None
    elif kind is int and isinstance(value, int):
        number = value
    elif kind is float and isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def _range_words(low: float | None, high: float | None) -> str:
    if high is None:
        return f"it must be at least {low}"
    if low is None:
        return f"it must be at most {high}"
    return f"it must be from {low} to {high}"


def setting_range(name: str) -> tuple[float | None, float | None]:
    """The accepted range of a numeric setting, ``(low, high)`` (None: open)."""
    meta = _FIELDS[name].metadata
    return meta.get("low"), meta.get("high")


# Related settings together: docs/settings.md has one table per group, in this order, and a
# test finds every setting in exactly one group (a new setting is added to its group here).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Server",
        ("secret_key", "public_url", "host", "port", "role", "trusted_proxies", "examples_dir",
         "demo_calls"),
    ),
    (
        "Storage",
        ("database_url", "sqlite_wal_max_bytes", "db_statement_timeout_ms",
         "db_acquire_timeout_ms", "db_command_timeout_ms", "retention_days",
         "retention_interval_seconds"),
    ),
    ("Logs and metrics", ("log_level", "log_format", "metrics_token", "metrics_allowed_networks")),
    (
        "Request limits and floods",
        ("max_body_bytes", "max_webhook_body_bytes", "visit_timeout_ms", "ip_rate_per_minute",
         "ip_rate_burst", "ip_max_live_sessions", "login_failures_per_hour",
         "login_failure_burst"),
    ),
    (
        "Numbers, pools and leases",
        ("lease_ttl_seconds", "lease_grace_seconds", "lease_cooldown_seconds",
         "lease_sweep_seconds", "heartbeat_seconds", "late_call_window_seconds",
         "forward_countries", "pool_safety_factor", "pool_alert_utilization"),
    ),
    (
        "Attribution and ad platforms",
        ("upload_min_confidence", "geoip_city_db", "ga4_push_seconds",
         "conversion_upload_seconds", "google_ads_api_base_url", "google_oauth_token_url",
         "meta_graph_base_url", "yahoo_ads_search_api_base_url",
         "yahoo_ads_display_api_base_url", "yahoo_oauth_token_url"),
    ),
    (
        "Telephony",
        ("visit_code_wait_seconds", "visit_code_days", "twilio_auth_token",
         "twilio_signing_key", "calls_webhook_secret",
         "calls_webhook_tolerance_seconds", "routing_refresh_seconds",
         "call_write_timeout_seconds", "call_spool_path"),
    ),
    (
        "Call options",
        ("record_calls", "recording_notice", "whisper", "caller_id_policy",
         "dial_timeout_seconds", "voice_language", "voice_name"),
    ),
    (
        "Notifications",
        ("smtp_host", "smtp_port", "smtp_username", "smtp_password", "smtp_starttls",
         "smtp_from", "notify_attempts", "notify_backoff_seconds", "outbound_allow_hosts"),
    ),
    (
        "Text messages and durable jobs",
        ("twilio_account_sid", "twilio_api_url", "sms_sender", "jobs_poll_seconds",
         "jobs_lease_seconds"),
    ),
    (
        "Reserved calls",
        ("reservation_reminder_minutes", "reservation_buffer_minutes",
         "reservation_slot_minutes", "reservation_connected_seconds",
         "reservation_retry_minutes"),
    ),
    ("Dashboard", ("dashboard_stream_seconds", "dashboard_poll_ms", "report_rollup_seconds")),
    (
        "Billing",
        ("billing_issuer_name", "billing_registration_number", "billing_tax_percent",
         "billing_currency", "billing_timezone"),
    ),
    (
        "Call analysis",
        ("recording_storage", "recording_dir",
         "recording_s3_endpoint", "recording_s3_bucket", "recording_s3_region",
         "recording_s3_access_key", "recording_s3_secret_key", "recording_delete_at_carrier",
         "recording_fetch_attempts",
         "recording_jobs_seconds", "recording_link_seconds", "transcription_engine",
         "transcription_api_url", "transcription_api_key", "transcription_api_model",
         "transcription_model_dir", "transcription_language", "transcription_timeout_seconds",
         "summary_engine", "summary_api_url", "summary_api_key", "summary_model",
         "summary_timeout_seconds"),
    ),
)  # fmt: skip


def group_of(name: str) -> str:
    """The group a setting is documented under (KeyError for one in no group)."""
    for title, names in GROUPS:
        if name in names:
            return title
    raise KeyError(f"setting {name} is in no group of backend.settings.GROUPS; add it there")


def documented_settings() -> list[tuple[str, Any, str]]:
    """Every setting as (environment variable, default, help), for docs and `--help`."""
    return [
        (ENV_PREFIX + f.name.upper(), f.default, f.metadata["help"])
        for f in dataclasses.fields(Settings)
    ]
