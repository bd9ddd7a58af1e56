"""Call options are declared once (``CALL_OPTIONS``); settings, storage, the routing table,
the CLI and docs/telephony.md all follow the table."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
import pytest

from backend.settings import ENV_PREFIX, Settings
from backend.telephony import config
from backend.telephony.options import CALL_OPTIONS, CallOption, CallOptions
from tests.support.server import ROOT, run_cli

SETTINGS = {f.name: f for f in dataclasses.fields(Settings)}


@pytest.mark.parametrize("option", CALL_OPTIONS, ids=lambda o: o.name)
def test_each_option_has_its_setting_with_the_tables_default_and_help(option: CallOption) -> None:
    setting = SETTINGS[option.setting]
    assert setting.default == option.default and type(setting.default) is option.kind
    assert setting.metadata["help"] == option.help
    assert (setting.metadata["low"], setting.metadata["high"]) == (option.low, option.high)
    assert setting.metadata["choices"] == option.choices
    field = {f.name: f for f in dataclasses.fields(CallOptions)}[option.name]
    assert field.default == option.default
    # The server-wide defaults are the settings, one by one.
    assert getattr(CallOptions.from_settings(Settings()), option.name) == option.default


def test_call_options_has_no_attribute_the_table_does_not_declare() -> None:
    assert [f.name for f in dataclasses.fields(CallOptions)] == [o.name for o in CALL_OPTIONS]


async def test_the_store_has_a_column_for_each_option(db: Any, demo: Any) -> None:
    await config.set_options(db, advertiser_id=1, whisper=True)
    row = await db.fetchone("SELECT * FROM call_options WHERE advertiser_id = 1")
    assert {o.column for o in CALL_OPTIONS} <= set(row)


async def test_options_stored_are_the_options_the_routing_table_reads(
    db: Any, demo: Any, telephony: Any
) -> None:
    values: dict[str, Any] = {
        "record": True,
        "whisper": True,
        "caller_id": "tracking",
        "dial_timeout_s": 45,
        "language": "en-US",
        "voice": "alice",
    }
    assert set(values) == {o.column for o in CALL_OPTIONS}  # a new option is tested here too
    await config.set_options(db, advertiser_id=1, **values)
    await telephony.table.load()
    assert telephony.table.options(1) == CallOptions(
        record=True,
        whisper=True,
        caller_id="tracking",
        timeout_s=45,
        language="en-US",
        voice="alice",
    )
    await config.set_options(db, advertiser_id=1, record=None, dial_timeout_s=None)
    await telephony.table.load()
    back = telephony.table.options(1)
    assert (back.record, back.timeout_s, back.voice) == (False, 30, "alice")


async def test_options_out_of_the_tables_range_or_choices_are_refused(db: Any, demo: Any) -> None:
    for bad in ({"dial_timeout_s": 4}, {"dial_timeout_s": 601}, {"caller_id": "nobody"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            await config.set_options(db, advertiser_id=1, **bad)
    with pytest.raises(ValueError, match="unknown call options: ring"):
        await config.set_options(db, advertiser_id=1, ring=3)


def test_a_hand_written_row_is_read_within_the_tables_range() -> None:
    row = {o.column: None for o in CALL_OPTIONS} | {"dial_timeout_s": 9999, "caller_id": "x"}
    options = CallOptions().overridden(row)
    assert options.timeout_s == 600 and options.caller_id == "caller"


def test_the_cli_has_a_flag_for_each_option_and_sets_them(
    database_url: str, store_kind: str
) -> None:
    assert run_cli("migrate", database_url=database_url).returncode == 0
    assert run_cli("demo", database_url=database_url).returncode == 0
    flags = ["calls", "options", "1"]
    flags += ["--record", "on", "--whisper", "off", "--caller-id", "tracking"]
    flags += ["--timeout", "20", "--language", "en-US", "--voice", "alice"]
    assert {f for f in flags if f.startswith("--")} == {o.flag for o in CALL_OPTIONS}
    done = run_cli(*flags, database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {
        "record": 1,
        "whisper": 0,
        "caller_id": "tracking",
        "dial_timeout_s": 20,
        "language": "en-US",
        "voice": "alice",
    }
    back = run_cli(
        "calls", "options", "1", "--record", "default", "--timeout", "0",
        database_url=database_url,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    stored = orjson.loads(back.stdout)
    assert stored["record"] is None and stored["dial_timeout_s"] is None
    assert stored["voice"] == "alice"


def test_docs_list_every_call_option() -> None:
    """docs/telephony.md's table of call options names each option's setting and flag."""
    text = (ROOT / "docs" / "telephony.md").read_text(encoding="utf-8")
    section = text.split("### Call options", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == len(CALL_OPTIONS)
    for option, row in zip(CALL_OPTIONS, rows, strict=True):
        assert f"`{ENV_PREFIX}{option.setting.upper()}`" in row
        assert f"`{option.flag}`" in row
        assert re.search(rf"`{option.column}`", row)
