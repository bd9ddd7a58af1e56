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

ENV_PREFIX = "CALLPATH_"


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
    secret_key: str = _setting(
        "change-me",
        "Key that signs session tokens and cookies. Set a long random value in production.",
    )
    public_url: str = _setting(
        "",
        "The address the outside world uses to reach this server (e.g. "
        "`https://calls.example.com`); webhook signatures are checked against it.",
    )
    host: str = _setting("127.0.0.1", "Address `callpath serve` listens on.")
    port: int = _setting(8000, "Port `callpath serve` listens on.")
    log_level: str = _setting("info", "Log level: debug, info, warning or error.")
    max_body_bytes: int = _setting(
        16384, "Largest request body accepted by the public `/v1/*` endpoints (else 413)."
    )
    lease_ttl_seconds: int = _setting(
        1800, "Default idle time after which a lease without heartbeat ends."
    )
    lease_grace_seconds: int = _setting(
        600, "Default time an ended lease stays matchable for calls placed right after."
    )
    lease_cooldown_seconds: int = _setting(
        900, "Default rest a released number takes before it is leased again."
    )
    heartbeat_seconds: int = _setting(
        60, "How often the snippet renews its lease while the page is visible."
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
        "Folder of example pages served under `/examples/`; empty uses the bundled examples.",
    )
    # attribution
    trust_forwarded_for: bool = _setting(
        False,
        "Take the visitor's address from the first `X-Forwarded-For` entry (only behind a "
        "proxy you run); it is used in memory for geo look-up and hashing, never stored.",
    )
    # pool: numbers, pools and leases
    pool_safety_factor: float = _setting(
        1.5, "Safety factor of the recommended pool size (peak arrivals x occupancy x this)."
    )
    pool_alert_utilization: float = _setting(
        0.75, "Peak hourly utilization above which a pool is flagged for more numbers."
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
        return cls(**values)

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
