"""Settings, declared once as data.

Every setting is a field of :class:`Settings` with its default and help text in the
field's metadata. Values come, in increasing precedence, from the defaults, a TOML file
(``CALLPATH_CONFIG`` or ``--config``) and ``CALLPATH_<NAME>`` environment variables.
``docs/settings.md`` documents every one; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pool.destinations import parse_countries

ENV_PREFIX = "CALLPATH_"
DEFAULT_SECRET_KEY = "change-me"
# What one process serves (`role`): everything, or only the carriers' webhooks.
ROLES = ("all", "telephony")


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


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
    )
    db_statement_timeout_ms: int = _setting(
        10_000,
        "PostgreSQL only: longest a read or a short unit of work (a visit, a claim) may run "
        "before the server cancels it, waiting on locks included; imports, purges and "
        "migrations are exempt. 0: no limit.",
    )
    db_acquire_timeout_ms: int = _setting(
        10_000,
        "PostgreSQL only: longest a request waits for a pooled connection. 0: no limit.",
    )
    visit_timeout_ms: int = _setting(
        5_000,
        "Longest `POST /v1/session` waits for storage; past it the visit is answered "
        "untracked (no swaps: the page keeps its own numbers), well before the snippet's own "
        "10 s abort. 0: no limit.",
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
    port: int = _setting(8000, "Port `callpath serve` listens on.")
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
    )
    max_body_bytes: int = _setting(
        16384, "Largest request body accepted by the public `/v1/*` endpoints (else 413)."
    )
    lease_ttl_seconds: int = _setting(
        1800, "Default idle time after which a lease without heartbeat ends (60 s to 1 day)."
    )
    lease_grace_seconds: int = _setting(
        600,
        "Default time an ended lease stays matchable for calls placed right after (0 to 7 days).",
    )
    lease_cooldown_seconds: int = _setting(
        900, "Default rest a released number takes before it is leased again (0 to 7 days)."
    )
    lease_sweep_seconds: int = _setting(
        60,
        "How often the server ends leases past their ttl and retires numbers waiting to "
        "retire, so a quiet pool's numbers come free without waiting for its next claim; "
        "0 turns it off.",
    )
    heartbeat_seconds: int = _setting(
        60,
        "How often the snippet renews its lease while the page is visible (1 s up to less "
        "than the lease ttl). A page whose last beat is more than two beats old counts as "
        "closed when a call is matched.",
    )
    late_call_window_seconds: int = _setting(
        7200,
        "How long after a number's holder lets it go a call to that number may still be "
        "theirs (dialled late, from the page they kept or their phone's call history): a "
        "call to the number's next holder within this window is matched with confidence "
        "`low`, both sessions kept as candidates (docs/attribution.md); 0 to 7 days.",
    )
    twilio_auth_token: str = _setting(
        "", "Twilio auth token used to verify `X-Twilio-Signature` on webhooks."
    )
    geoip_city_db: str = _setting(
        "", "Path to a GeoLite2/GeoIP2 City database (.mmdb); empty disables geo look-ups."
    )
    geoip_asn_db: str = _setting(
        "", "Path to a GeoLite2 ASN database (.mmdb), used to spot data-centre traffic."
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
    dial_timeout_seconds: int = _setting(
        30, "How long a forwarded call rings at the business before it counts as no-answer."
    )
    caller_id_policy: str = _setting(
        "caller",
        "Caller id shown to the business: `caller` (the caller's number) or `tracking` "
        "(the tracking number that was dialled).",
    )
    record_calls: bool = _setting(False, "Record forwarded calls (both sides, from answer).")
    recording_notice: str = _setting(
        "この通話は品質向上のため録音させていただきます。",
        "Spoken to the caller before a recorded call is put through; empty says nothing.",
    )
    whisper: bool = _setting(
        False,
        "Announce the call's source to the person who answers (入電ガイダンス), before the "
        "caller is connected.",
    )
    voice_language: str = _setting(
        "ja-JP", "Language of spoken notices and whispers (`ja-JP`, `en-US`, ...)."
    )
    voice_name: str = _setting(
        "Polly.Mizuki", "Twilio `<Say>` voice for notices and whispers (e.g. `alice`)."
    )
    routing_refresh_seconds: int = _setting(
        30, "How often the in-memory routing table (number -> forwarding target) is reloaded."
    )
    call_write_timeout_seconds: float = _setting(
        5.0, "Longest one call write may take before it is retried later from the queue."
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
        300, "Replay window of `X-Callpath-Timestamp` on `POST /webhooks/calls`."
    )
    smtp_host: str = _setting("", "SMTP server for call notification emails; empty disables.")
    smtp_port: int = _setting(25, "SMTP port.")
    smtp_username: str = _setting("", "SMTP login (empty: no authentication).")
    smtp_password: str = _setting("", "SMTP password.")
    smtp_starttls: bool = _setting(False, "Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = _setting("callpath@localhost", "Sender address of notification emails.")
    notify_attempts: int = _setting(
        5, "How many times a notification is tried before it is marked failed."
    )
    notify_backoff_seconds: float = _setting(
        2.0, "Wait before the second notification attempt; doubled after each failure."
    )
    outbound_allow_hosts: str = _setting(
        "",
        "Receivers inside your own network that notification webhooks and the GA4 endpoint "
        "may reach: comma-separated host names, addresses or networks (`hooks.internal, "
        "10.0.0.7, 192.168.5.0/24`). Every other loopback, private, link-local or otherwise "
        "non-public destination is refused (docs/telephony.md, Notifications).",
    )
    # --- api / exports ---
    retention_days: int = _setting(
        0,
        "Days sessions and page views are kept; older ones are purged (calls stay, unlinked). "
        "0 keeps them forever.",
    )
    retention_interval_seconds: int = _setting(
        3600, "How often the server runs the retention purge while it is up."
    )
    ga4_push_seconds: int = _setting(
        300,
        "How often the server sends new calls to GA4 for sites with GA4 settings; 0 turns "
        "the automatic push off (`callpath export ga4` still works).",
    )
    # hardening (public endpoints, flood guard)
    max_webhook_body_bytes: int = _setting(
        65536, "Largest request body accepted by `/twilio/*` and `/webhooks/*` (else 413)."
    )
    ip_rate_per_minute: int = _setting(
        30,
        "Session requests per minute one address (IPv4, or IPv6 /64) may make per instance, "
        "after its burst; past it visits get no tracking number. 0 turns the limit off.",
    )
    ip_rate_burst: int = _setting(
        20, "Session requests one address may make at once before the per-minute rate applies."
    )
    ip_max_live_sessions: int = _setting(
        4,
        "Sessions from one address (IPv4, or IPv6 /64) that may hold a site's tracking numbers "
        "at once, counted in the database; keep it well below the smallest pool. 0: no cap.",
    )
    login_failures_per_hour: int = _setting(
        10,
        "Failed dashboard sign-ins allowed per hour, per address and per account, after the "
        "burst; past it sign-in answers 429 without checking the password. 0: no limit.",
    )
    login_failure_burst: int = _setting(
        10, "Failed sign-ins one address, or one account, may make before the hourly rate."
    )
    # dashboard
    dashboard_stream_seconds: int = _setting(
        300,
        "How long one live-calls event stream stays open; the browser then reconnects and "
        "resumes after the last call it saw.",
    )
    dashboard_poll_ms: int = _setting(
        1000, "How often the live-calls stream looks for new and changed calls (milliseconds)."
    )
    # pool: numbers, pools and leases
    forward_countries: str = _setting(
        "",
        "Countries calls may be forwarded to, as ISO codes (`JP,US`); empty: each site's own "
        "country. Premium-rate, shared-cost, personal-numbering and satellite numbers are "
        "refused whatever it says (docs/numbers.md).",
    )
    pool_safety_factor: float = _setting(
        1.5, "Safety factor of the recommended pool size (peak arrivals x occupancy x this)."
    )
    pool_alert_utilization: float = _setting(
        0.75, "Peak hourly utilization above which a pool is flagged for more numbers."
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
                if key not in _FIELDS:
                    raise ValueError(f"unknown setting {key!r} in {path}")
                values[key] = _cast(key, value)
        for name in _FIELDS:
            env_name = ENV_PREFIX + name.upper()
            if env_name in environ:
                values[name] = _cast(name, environ[env_name])
        for key, value in overrides.items():
            if value is not None:
                values[key] = _cast(key, value)
        settings = cls(**values)
        settings.check_ranges()
        return settings

    def check_ranges(self) -> None:
        """Refuse lease timings no pool could run with, naming the setting.

        Pools are created from these defaults (``callpath demo``, ``callpath pools create``)
        with the bounds :func:`pool.numbers.check_timings` puts on timings people type.
        """
        day = 86_400
        bounds = {
            "lease_ttl_seconds": (60, day),
            "lease_grace_seconds": (0, 7 * day),
            "lease_cooldown_seconds": (0, 7 * day),
            "lease_sweep_seconds": (0, day),
            "heartbeat_seconds": (1, min(3600, self.lease_ttl_seconds - 1)),
            "late_call_window_seconds": (0, 7 * day),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(
                    f"setting {ENV_PREFIX}{name.upper()} ({name}) must be between {low} and"
                    f" {high} seconds, not {value}"
                )

    def forward_country_list(self) -> frozenset[str]:
        """``forward_countries`` as ISO codes (empty: each site's own country).

        Raises ValueError naming the setting when an entry is not a country.
        """
        try:
            return parse_countries(self.forward_countries)
        except ValueError as exc:
            raise ValueError(f"setting CALLPATH_FORWARD_COUNTRIES: {exc}") from exc

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


_FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def _cast(name: str, value: Any) -> Any:
    kind = type(_FIELDS[name].default)
    if kind is bool:
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"setting {name}: cannot read {value!r} as {kind.__name__}") from exc


def documented_settings() -> list[tuple[str, Any, str]]:
    """Every setting as (environment variable, default, help), for docs and `--help`."""
    return [
        (ENV_PREFIX + f.name.upper(), f.default, f.metadata["help"])
        for f in dataclasses.fields(Settings)
    ]
