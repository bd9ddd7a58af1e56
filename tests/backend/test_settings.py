"""Settings: declared once, read from the environment and TOML, all documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import Settings, documented_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name, _, _ in documented_settings() if f"`{name}`" not in text]
    assert not missing, f"settings missing from docs/settings.md: {missing}"


def test_environment_overrides_file_and_defaults(tmp_path: Path) -> None:
    config = tmp_path / "callpath.toml"
    config.write_text('[callpath]\nport = 9000\nsecret_key = "from-file"\n', encoding="utf-8")
    settings = Settings.load(environ={"CALLPATH_PORT": "9100", "CALLPATH_CONFIG": str(config)})
    assert settings.port == 9100
    assert settings.secret_key == "from-file"
    assert settings.host == "127.0.0.1"


def test_bad_values_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="setting port"):
        Settings.load(environ={"CALLPATH_PORT": "eighty"})
    config = tmp_path / "bad.toml"
    config.write_text("colour = 'blue'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        Settings.load(environ={}, config_file=config)
