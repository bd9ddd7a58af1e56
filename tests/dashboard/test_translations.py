"""The translation catalogs are complete: every message id used has Japanese and English text,
every stored value has a label, and the compiled .mo files are those of the .po files."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from attribution import matching, reports, sources
from backend.assets import TEMPLATES_DIR
from backend.dashboard import i18n
from backend.notify import targets as notify_targets
from backend.telephony import calls, config, journey
from pool import numbers, rules

ROOT = Path(__file__).resolve().parents[2]
# The keywords `make messages` passes to pybabel extract (Makefile, target messages).
KEYWORDS = {"t": None, "N_": None, "gettext": None, "ngettext": (1, 2), "_": None}


def _po(lang: str) -> dict[str, str]:
    path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str)}


def _extracted() -> set[str]:
    """Every literal message id in templates and dashboard code, as pybabel extracts it."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_id_in_use_has_english_and_japanese_text() -> None:
    used = _extracted()
    used |= {msgid for group in i18n.LABELS.values() for msgid in group.values()}
    used |= set(i18n.NAMED_IN_LISTS)
    assert len(used) > 250, "extraction found too little: check babel.cfg"
    # A run-time id like t("status." + x) is extracted as its prefix: declare it in LABELS.
    partial = sorted(m for m in used if m.endswith("."))
    assert not partial, f"build these ids through i18n.label / LABELS: {partial}"
    en, ja = _po("en"), _po("ja")
    assert not sorted(m for m in used if not en.get(m)), "ids without English text"
    assert not sorted(m for m in used if not ja.get(m)), "ids without Japanese text"
    assert not sorted(set(en) - used), "ids no one uses (make messages drops them)"
    for lang in i18n.LANGUAGES:
        # Found in the compiled catalog ("yes" is its own English text).
        assert all(m in i18n.catalog(lang)._catalog for m in used), lang  # type: ignore[attr-defined]
    assert i18n.translator("en")("nav.reports") == "Reports"
    assert i18n.translator("ja")("nav.reports") == "レポート"


def test_run_time_ids_in_templates_have_a_label_group() -> None:
    """``t("prefix." + value)`` in a template only works for a declared group of values."""
    prefixes: set[str] = set()
    for path in Path(TEMPLATES_DIR).glob("*.html"):
        prefixes |= set(
            re.findall(r"""\bt\(\s*["']([a-z_.]+)\.["']\s*\+""", path.read_text("utf-8"))
        )
    assert "status" in prefixes
    assert not sorted(p for p in prefixes if p not in i18n.LABELS)


STORED_VALUES: dict[str, set[str]] = {
    "status": {s for s, _rank in calls.PARENT_STATUS.values()} | set(calls.OUTCOMES.values()),
    "channel": set(sources.CHANNELS),
    "journey": set(journey.KINDS),
    "match": set(matching.METHODS),
    "confidence": set(matching.CONFIDENCES),
    "reason": set(matching.REASONS),
    "dim": set(reports.DIMENSIONS),
    "numbers.kind": set(numbers.KINDS),
    "rules.kind": set(rules.KINDS),
    "rules.action": set(rules.ACTIONS),
    "blocked.kind": set(config.BLOCK_KINDS),
    "notify.kind": set(notify_targets.KINDS),
    "notify.event": set(notify_targets.EVENTS),
    "users.role": {"admin", "member"},
}


@pytest.mark.parametrize("group", sorted(STORED_VALUES))
def test_every_stored_value_has_a_label_in_both_languages(group: str) -> None:
    values = STORED_VALUES[group]
    assert values
    missing = sorted(values - set(i18n.LABELS[group]))
    assert not missing, f"{group}: no label for {missing}"
    for lang in i18n.LANGUAGES:
        t = i18n.translator(lang)
        for value in values:
            text = i18n.label(t, group, value)
            # The label's text, not its id (an English label may be the value itself).
            assert text and text != i18n.LABELS[group][value], (lang, group, value)
            if lang == "ja":
                assert text != value, (group, value)


def test_the_raw_keys_people_saw_now_read_as_words() -> None:
    ja, en = i18n.translator("ja"), i18n.translator("en")
    assert i18n.label(ja, "status", "answered") == "応答"
    assert i18n.label(ja, "status", "blocked") == "着信拒否"
    assert i18n.label(ja, "status", "no-answer") == "応答なし"
    assert i18n.label(en, "status", "blocked") == "blocked"
    assert i18n.value_label(ja, "channel", "organic_search") == "自然検索"
    assert i18n.value_label(en, "channel", "organic_search") == "Organic search"
    # Nothing stored and nothing known read as '(none)' and as themselves.
    assert i18n.value_label(ja, "keyword", None) == "(なし)"
    assert i18n.value_label(en, "keyword", "") == "(none)"
    assert i18n.value_label(en, "keyword", "歯医者 渋谷") == "歯医者 渋谷"
    assert i18n.label(en, "status", "some-new-status") == "some-new-status"


def test_japanese_reads_as_an_ad_manager_would_write_it() -> None:
    ja = _po("ja")
    # A number is shown to / held for a visit, not "leased" (リース is jargon from the code).
    assert not sorted(k for k, v in ja.items() if "リース" in v)
    assert not sorted(k for k, v in ja.items() if "不在" in v)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_committed_mo_is_compiled_from_the_po(lang: str) -> None:
    """make messages compiles the .mo; a .po edited without it fails here."""
    directory = i18n.LOCALE_DIR / lang / "LC_MESSAGES"
    with (directory / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    fresh = io.BytesIO()
    write_mo(fresh, catalog)
    fresh.seek(0)
    expected = gettext.GNUTranslations(fresh)
    with (directory / "messages.mo").open("rb") as fh:
        committed = gettext.GNUTranslations(fh)
    assert committed._catalog == expected._catalog  # type: ignore[attr-defined]
