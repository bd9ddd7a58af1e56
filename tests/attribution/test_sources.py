"""Source classification over realistic landing URLs and referrers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attribution import referrers
from attribution.sources import CHANNELS, classify, is_new_touch, merge_params

LP = "https://www.clinic.example/"
SITE = ["clinic.example"]

FIELDS = ["landing_url", "referrer", "channel", "source", "campaign", "keyword"]


def _load_cases() -> list[tuple[str, ...]]:
    """The rows of ``source_cases.csv``: one landing URL and referrer, and what they classify
    as. A line starting with ``#`` names the group of cases below it."""
    path = Path(__file__).with_name("source_cases.csv")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(line for line in f if not line.startswith("#"))
        assert next(reader) == FIELDS
        rows = [tuple(row) for row in reader]
    assert all(len(row) == len(FIELDS) for row in rows), "a row without all its fields"
    return rows


CASES = _load_cases()


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize(("url", "referrer", "channel", "source", "campaign", "keyword"), CASES)
def test_classify(
    url: str, referrer: str, channel: str, source: str, campaign: str, keyword: str
) -> None:
    got = classify(url, referrer, site_hosts=SITE)
    assert got.channel in CHANNELS
    assert (got.channel, got.source, got.campaign, got.keyword) == (
        channel,
        source,
        campaign,
        keyword,
    )


def test_click_ids_match_types_and_devices_are_kept() -> None:
    got = classify(
        LP + "?gclid=G1&matchtype=e&device=m&adgroupid=42&network=s&utm_content=ad_a",
        "",
    )
    assert (got.gclid, got.match_type, got.device, got.ad_group, got.network) == (
        "G1",
        "exact",
        "mobile",
        "42",
        "search_partners",
    )
    assert got.content == "ad_a" and got.tagged
    assert classify(LP + "?yclid=YSS.1&matchtype=b").match_type == "broad"
    ms = classify(LP + "?msclkid=M1")
    assert ms.msclkid == "M1" and ms.gclid == ""


def test_site_parameter_names_come_first() -> None:
    url = LP + "?gclid=g&k=%E5%85%A5%E3%82%8C%E6%AD%AF&utm_term=ignored&cp=spring"
    params = {"keyword": ["k"], "campaign": ["cp"], "bogus": ["x"]}
    got = classify(url, "", params=params)
    assert (got.keyword, got.campaign) == ("入れ歯", "spring")
    merged = merge_params(params)
    assert merged["keyword"][0] == "k" and "utm_term" in merged["keyword"]
    assert "bogus" not in merged


def test_new_touch_only_for_tags_or_external_referrers() -> None:
    assert is_new_touch(classify(LP + "?gclid=x", ""), SITE)
    assert is_new_touch(classify(LP, "https://www.google.com/"), SITE)
    assert not is_new_touch(classify(LP + "price/", "https://clinic.example/"), SITE)
    assert not is_new_touch(classify(LP, ""), SITE)


def test_bad_input_never_raises() -> None:
    for url, ref in [
        ("", ""),
        ("not a url", "::::"),
        ("http://[::1", "http://[bad"),
        ("https://x/?" + "a=1&" * 2000, "javascript:alert(1)"),
        ("https://x/?gclid=" + "z" * 5000, ""),
    ]:
        got = classify(url, ref)
        assert got.channel in CHANNELS
        assert len(got.gclid) <= 256


def test_referrer_tables() -> None:
    assert referrers.search_engine("google.co.jp") == "google"
    assert referrers.search_engine("google.com.br") == "google"
    assert referrers.search_engine("mail.google.com") is None
    assert referrers.search_engine("notgoogle.com") is None
    assert referrers.search_engine("news.yahoo.co.jp") is None
    assert referrers.is_spam("semalt.com") and referrers.is_spam("x.semalt.com")
    assert not referrers.is_spam("example.com")
    assert referrers.normalise_host("WWW.Example.COM:8080") == "example.com"
