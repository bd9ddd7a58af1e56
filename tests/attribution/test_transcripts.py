"""Transcript text (issue #22): numbers masked, Japanese folded, bigrams, phrase rules."""

from __future__ import annotations

from attribution.transcripts import MASK, grams, mask_numbers, matching_rules, normalise


def test_card_and_phone_numbers_are_masked_in_digits_and_words() -> None:
    said = "my card is four two four two four two four two, call me on 090-1234-5678"
    masked = mask_numbers(said)
    assert masked == f"my card is {MASK}, call me on {MASK}"
    assert mask_numbers("０９０ １２３４ ５６７８") == MASK  # full-width digits too
    # Shorter runs are kept: a year, a room, "oh" as a word.
    assert mask_numbers("in 2024 room 305, oh I see") == "in 2024 room 305, oh I see"
    assert mask_numbers("one two three four five") == "one two three four five"
    assert mask_numbers("one two three four five six") == MASK


def test_width_case_and_kana_are_folded() -> None:
    assert normalise("ＡＢＣ１２３") == "abc123"
    assert normalise("ｷｬﾝｾﾙ") == normalise("キャンセル") == "きゃんせる"
    assert normalise("  予約　 したい  ") == "予約 したい"
    assert normalise("Tomorrow  MORNING") == "tomorrow morning"


def test_bigrams_cover_japanese_without_spaces() -> None:
    assert grams("予約したい") == {"予約", "約し", "した", "たい"}
    assert grams("a") == {"a"} and grams("") == set()


def test_rules_match_in_their_order_after_folding() -> None:
    rules = [
        {"id": 1, "phrase": "キャンセル", "outcome_id": 3, "tag": "cancel"},
        {"id": 2, "phrase": "ＹＯＹＡＫＵ", "outcome_id": None, "tag": "booking"},
        {"id": 3, "phrase": "not said", "outcome_id": 4, "tag": ""},
    ]
    hits = matching_rules(rules, normalise("yoyaku を ｷｬﾝｾﾙ したい"))
    assert [(h.rule_id, h.outcome_id, h.tag) for h in hits] == [
        (1, 3, "cancel"),
        (2, None, "booking"),
    ]
