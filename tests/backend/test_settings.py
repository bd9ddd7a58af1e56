"""Settings: declared once, read from the environment and TOML, all documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from backend import cli
from backend.settings import Settings, documented_settings, setting_range

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


NUMERIC = [f for f in dataclasses.fields(Settings) if type(f.default) in (int, float)]
BOOLEAN = [f for f in dataclasses.fields(Settings) if type(f.default) is bool]


# A heartbeat must come before the lease it renews runs out (Settings.check_together): each
# of the two is tried across its own range beside a value of the other that allows it.
COMPANION = {
    "lease_ttl_seconds": ("heartbeat_seconds", "1"),
    "heartbeat_seconds": ("lease_ttl_seconds", "86400"),
}


def _from_env(name: str, value: str) -> Settings:
    environ = {"CALLPATH_" + name.upper(): value}
    if name in COMPANION:
        other, other_value = COMPANION[name]
        environ["CALLPATH_" + other.upper()] = other_value
    return Settings.load(environ=environ)


def _from_toml(tmp_path: Path, name: str, literal: str) -> Settings:
    config = tmp_path / "callpath.toml"
    extra = "".join(f"{o} = {v}\n" for o, v in [COMPANION[name]]) if name in COMPANION else ""
    config.write_text(f"[callpath]\n{name} = {literal}\n{extra}", encoding="utf-8")
    return Settings.load(environ={}, config_file=config)


def test_a_mistyped_boolean_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ValueError) as caught:
        _from_env("record_calls", "ture")
    message = str(caught.value)
    assert "CALLPATH_RECORD_CALLS" in message and "'ture'" in message
    assert "true/false/1/0/yes/no/on/off" in message


def test_the_command_line_reports_a_bad_setting_and_exits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CALLPATH_RECORD_CALLS", "ture")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert cli.main(["--database", url, "migrate"]) == 2
    err = capsys.readouterr().err
    assert "CALLPATH_RECORD_CALLS" in err and "true/false" in err
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("setting", BOOLEAN, ids=lambda f: f.name)
def test_every_boolean_is_read_strictly(setting: dataclasses.Field[Any], tmp_path: Path) -> None:
    name = setting.name
    for word, meaning in [("true", True), ("On", True), ("1", True), ("yes", True)]:
        assert getattr(_from_env(name, word), name) is meaning
    for word in ("false", "OFF", "0", "no"):
        assert getattr(_from_env(name, word), name) is False
    for bad in ("ture", "", "2", "y", "enabled"):
        with pytest.raises(ValueError, match=f"CALLPATH_{name.upper()}"):
            _from_env(name, bad)
    assert getattr(_from_toml(tmp_path, name, "true"), name) is True
    assert getattr(_from_toml(tmp_path, name, '"off"'), name) is False
    for bad in ("1", '"ture"', "[]"):
        with pytest.raises(ValueError, match=f"setting {name} \\({name} in "):
            _from_toml(tmp_path, name, bad)


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda f: f.name)
def test_every_number_is_read_strictly_within_its_range(
    setting: dataclasses.Field[Any], tmp_path: Path
) -> None:
    name = setting.name
    low, high = setting_range(name)
    assert low is not None, f"{name} declares no range"
    is_int = type(setting.default) is int
    # The default is accepted, from both sources.
    assert getattr(_from_env(name, str(setting.default)), name) == setting.default
    assert getattr(_from_toml(tmp_path, name, repr(setting.default)), name) == setting.default
    # The bounds are accepted; one step past them is refused, from both sources.
    step = 1 if is_int else 0.01
    literal = (lambda v: str(int(v))) if is_int else (lambda v: repr(float(v)))
    assert getattr(_from_env(name, literal(low)), name) == low
    outside = [low - step] + ([] if high is None else [high + step])
    if high is not None:
        assert getattr(_from_toml(tmp_path, name, literal(high)), name) == high
    for value in outside:
        with pytest.raises(ValueError, match=f"CALLPATH_{name.upper()}.*out of range"):
            _from_env(name, literal(value))
        with pytest.raises(ValueError, match=f"setting {name} \\({name} in .*out of range"):
            _from_toml(tmp_path, name, literal(value))
    # Not a number of the right kind.
    bad_env = ["", "ten", "nan", "true"] + (["1.5", "1e3"] if is_int else [])
    for text in bad_env:
        with pytest.raises(ValueError, match=f"CALLPATH_{name.upper()}"):
            _from_env(name, text)
    bad_toml = ["true", '"ten"', "[1]"] + (["1.5"] if is_int else [])
    for text in bad_toml:
        with pytest.raises(ValueError, match=f"setting {name} "):
            _from_toml(tmp_path, name, text)


def test_a_port_is_a_port() -> None:
    for name in ("port", "smtp_port"):
        assert setting_range(name) == (1, 65535)
        with pytest.raises(ValueError, match="out of range"):
            _from_env(name, "70000")


def test_text_settings_from_a_file_must_be_text(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"setting host .*not a string"):
        _from_toml(tmp_path, "host", "127")


def test_the_unread_asn_setting_is_gone_and_a_file_naming_it_is_told_so(tmp_path: Path) -> None:
    assert "CALLPATH_GEOIP_ASN_DB" not in {name for name, _, _ in documented_settings()}
    assert "GEOIP_ASN" not in DOCS.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"'geoip_asn_db' .* was removed: it was never read"):
        _from_toml(tmp_path, "geoip_asn_db", '"/x/GeoLite2-ASN.mmdb"')


def test_the_docs_give_every_numeric_settings_range() -> None:
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in DOCS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `CALLPATH_")
    }
    for setting in NUMERIC:
        low, high = setting_range(setting.name)
        words = f"Range: {low:g} to {high:g}." if high is not None else f"Range: at least {low:g}."
        assert words in rows["CALLPATH_" + setting.name.upper()], setting.name


CHOICES = [f for f in dataclasses.fields(Settings) if f.metadata.get("choices")]


@pytest.mark.parametrize("setting", CHOICES, ids=lambda f: f.name)
def test_a_setting_naming_one_of_a_few_things_takes_only_those(
    setting: dataclasses.Field[Any], tmp_path: Path
) -> None:
    name = setting.name
    for choice in setting.metadata["choices"]:
        assert getattr(_from_env(name, choice), name) == choice
        assert getattr(_from_toml(tmp_path, name, f'"{choice}"'), name) == choice
    for bad in ("", "nonsense", setting.default.upper()):
        with pytest.raises(ValueError, match=f"CALLPATH_{name.upper()}.*is not one of"):
            _from_env(name, bad)
        with pytest.raises(ValueError, match=f"setting {name} \\({name} in .*is not one of"):
            _from_toml(tmp_path, name, f'"{bad}"')


def test_the_role_and_the_caller_id_policy_are_checked() -> None:
    assert {f.name for f in CHOICES} >= {"role", "caller_id_policy"}


def test_every_setting_is_in_one_group_and_documented_in_its_table() -> None:
    """Related settings are grouped (``GROUPS``); docs/settings.md has one table per group,
    in that order, holding exactly that group's settings."""
    from backend.settings import GROUPS, group_of

    grouped = [name for _, names in GROUPS for name in names]
    assert len(grouped) == len(set(grouped)), "a setting is in two groups"
    assert set(grouped) == {f.name for f in dataclasses.fields(Settings)}
    for f in dataclasses.fields(Settings):
        assert group_of(f.name)
    sections = DOCS.read_text(encoding="utf-8").split("\n### ")[1:]
    tables = {}
    for section in sections:
        title, _, body = section.partition("\n")
        tables[title.strip()] = [
            line.split("|")[1].strip(" `")
            for line in body.splitlines()
            if line.startswith("| `CALLPATH_")
        ]
    assert [t for t in tables if tables[t]] == [title for title, _ in GROUPS]
    for title, names in GROUPS:
        assert tables[title] == ["CALLPATH_" + n.upper() for n in names], title
    with pytest.raises(KeyError, match="in no group"):
        group_of("no_such_setting")


def test_the_billing_registration_number_and_zone_are_checked_at_start_up() -> None:
    # Issue #20: a statement must never print a registration number that cannot exist.
    good = Settings.load(environ={"CALLPATH_BILLING_REGISTRATION_NUMBER": "t7000012050002"})
    assert good.billing_terms().registration_number == "T7000012050002"
    assert good.billing_terms().tax_percent == 10 and good.billing_terms().tz == "Asia/Tokyo"
    for bad, words in (
        ({"CALLPATH_BILLING_REGISTRATION_NUMBER": "T7000012050003"}, "check digit"),
        ({"CALLPATH_BILLING_REGISTRATION_NUMBER": "7000012050002"}, "T and 13 digits"),
        ({"CALLPATH_BILLING_TIMEZONE": "Asia/Nowhere"}, "no time zone"),
        ({"CALLPATH_BILLING_TAX_PERCENT": "101"}, "out of range"),
    ):
        with pytest.raises(ValueError, match=words):
            Settings.load(environ=bad)
