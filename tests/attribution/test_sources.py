"""Source classification over realistic landing URLs and referrers."""

from __future__ import annotations

import pytest

from attribution import referrers
from attribution.sources import CHANNELS, classify, is_new_touch, merge_params

LP = "https://www.clinic.example/"
SITE = ["clinic.example"]

# (landing URL, referrer, channel, source, campaign, keyword)
CASES: list[tuple[str, str, str, str, str, str]] = [
    # --- Google Ads with auto-tagging and ValueTrack tracking templates -------------
    (
        LP + "?gclid=EAIaIQobChMI&utm_source=google&utm_medium=cpc&utm_campaign=implant_tokyo"
        "&utm_term=%E3%82%A4%E3%83%B3%E3%83%97%E3%83%A9%E3%83%B3%E3%83%88+%E6%9D%B1%E4%BA%AC",
        "https://www.google.co.jp/",
        "paid_search",
        "google",
        "implant_tokyo",
        "インプラント 東京",
    ),
    (
        LP + "?gclid=Cj0KCQ&keyword=dentist%20near%20me&matchtype=p&campaignid=1234567"
        "&adgroupid=998877&device=m&network=g",
        "https://www.google.com/",
        "paid_search",
        "google",
        "1234567",
        "dentist near me",
    ),
    (
        LP + "?gclid=abc&utm_term={keyword}&campaignid={campaignid}",
        "https://www.google.com/",
        "paid_search",
        "google",
        "",
        "",
    ),
    (LP + "?gbraid=0AAAAA&utm_campaign=ios_brand", "", "paid_search", "google", "ios_brand", ""),
    (LP + "?wbraid=CjkKCQ&kw=whitening", "", "paid_search", "google", "", "whitening"),
    (
        LP + "?gclid=xyz&network=d&campaignid=555&placement=news.example.com",
        "https://googleads.g.doubleclick.net/",
        "display",
        "google",
        "555",
        "",
    ),
    (
        LP + "?gclid=xyz&network=ytv&utm_campaign=brand_video",
        "",
        "display",
        "google",
        "brand_video",
        "",
    ),
    (
        LP + "?gclid=a1&utm_source=google&utm_medium=display&utm_campaign=remarketing",
        "https://tpc.googlesyndication.com/",
        "display",
        "google",
        "remarketing",
        "",
    ),
    (LP + "?gclid=only", "", "paid_search", "google", "", ""),
    (
        LP + "?gclid=pmax&network=x&utm_campaign=pmax_all",
        "https://www.google.de/",
        "paid_search",
        "google",
        "pmax_all",
        "",
    ),
    # --- Yahoo! JAPAN search ads and display ads ------------------------------------
    (
        LP + "?yclid=YSS.1000123.EAIaIQ&utm_source=yahoo&utm_medium=cpc&utm_campaign=shinbi"
        "&utm_term=%E6%AD%AF%E5%8C%BB%E8%80%85",
        "https://search.yahoo.co.jp/",
        "paid_search",
        "yahoo",
        "shinbi",
        "歯医者",
    ),
    (
        LP + "?yclid=YSS.1000.x&keyword=%E5%AF%A9%E7%BE%8E%E6%AD%AF%E7%A7%91&matchtype=e"
        "&campaignid=8001&adgroupid=9001&device=c",
        "https://search.yahoo.co.jp/",
        "paid_search",
        "yahoo",
        "8001",
        "審美歯科",
    ),
    (LP + "?yclid=YSS.1.z", "", "paid_search", "yahoo", "", ""),
    (
        LP + "?yclid=YJAD.1600.abc&utm_campaign=yda_retarget",
        "https://s.yimg.jp/",
        "display",
        "yahoo",
        "yda_retarget",
        "",
    ),
    (
        LP + "?utm_source=yahoo&utm_medium=cpc&utm_campaign=brand&utm_term=%E6%A0%AA%E5%BC%8F",
        "https://search.yahoo.co.jp/",
        "paid_search",
        "yahoo",
        "brand",
        "株式",
    ),
    (
        LP + "?utm_source=yahoo&utm_medium=display&utm_campaign=yda_banner",
        "",
        "display",
        "yahoo",
        "yda_banner",
        "",
    ),
    # --- Microsoft Advertising -------------------------------------------------------
    (
        LP + "?msclkid=5f2a&utm_source=bing&utm_medium=cpc&utm_campaign=us_dental"
        "&utm_term=dental+implants",
        "https://www.bing.com/",
        "paid_search",
        "bing",
        "us_dental",
        "dental implants",
    ),
    (LP + "?msclkid=abc123", "https://www.bing.com/", "paid_search", "bing", "", ""),
    (
        LP + "?msclkid=x&keyword=emergency%20dentist&matchtype=b&campaignid=777",
        "",
        "paid_search",
        "bing",
        "777",
        "emergency dentist",
    ),
    # --- Meta, X, LINE, TikTok -----------------------------------------------------------
    (
        LP + "?fbclid=IwAR0&utm_source=facebook&utm_medium=paid_social&utm_campaign=spring",
        "https://l.facebook.com/",
        "paid_social",
        "facebook",
        "spring",
        "",
    ),
    (
        LP + "?fbclid=IwAR1&utm_source=ig&utm_medium=cpc&utm_campaign=reels",
        "https://l.instagram.com/",
        "paid_social",
        "instagram",
        "reels",
        "",
    ),
    (LP + "?fbclid=IwAR2", "https://m.facebook.com/", "social", "facebook", "", ""),
    (LP + "?fbclid=IwAR3", "https://l.instagram.com/", "social", "instagram", "", ""),
    (LP + "?fbclid=IwAR4", "", "social", "facebook", "", ""),
    (
        LP + "?utm_source=line&utm_medium=paid&utm_campaign=line_ads",
        "",
        "paid_social",
        "line",
        "line_ads",
        "",
    ),
    (
        LP + "?utm_source=tiktok&utm_medium=cpc&utm_campaign=tt_spring",
        "",
        "paid_social",
        "tiktok",
        "tt_spring",
        "",
    ),
    (
        LP + "?utm_source=twitter&utm_medium=social&utm_campaign=launch",
        "https://t.co/",
        "social",
        "twitter",
        "launch",
        "",
    ),
    # --- organic search, Japan and the US ------------------------------------------------
    (LP, "https://www.google.co.jp/", "organic_search", "google", "", ""),
    (LP, "https://www.google.com/", "organic_search", "google", "", ""),
    (LP + "dental/", "https://www.google.com.au/", "organic_search", "google", "", ""),
    (
        LP,
        "https://search.yahoo.co.jp/search?p=%E6%AD%AF%E5%8C%BB%E8%80%85",
        "organic_search",
        "yahoo",
        "",
        "歯医者",
    ),
    (LP, "https://www.yahoo.co.jp/", "organic_search", "yahoo", "", ""),
    (LP, "https://search.yahoo.com/", "organic_search", "yahoo", "", ""),
    (
        LP,
        "https://www.bing.com/search?q=dentist+tokyo",
        "organic_search",
        "bing",
        "",
        "dentist tokyo",
    ),
    (LP, "https://duckduckgo.com/", "organic_search", "duckduckgo", "", ""),
    (LP, "https://www.baidu.com/link?url=abc", "organic_search", "baidu", "", ""),
    (LP, "https://m.search.naver.com/search.naver?query=x", "organic_search", "naver", "", "x"),
    (LP, "https://search.goo.ne.jp/web.jsp?MT=a", "organic_search", "goo", "", "a"),
    (LP, "https://search.biglobe.ne.jp/", "organic_search", "biglobe", "", ""),
    (LP, "https://search.smt.docomo.ne.jp/", "organic_search", "docomo", "", ""),
    (LP, "https://sp-web.search.auone.jp/", "organic_search", "auone", "", ""),
    (LP, "https://websearch.rakuten.co.jp/", "organic_search", "rakuten", "", ""),
    (LP, "https://search.nifty.com/", "organic_search", "nifty", "", ""),
    (LP, "https://www.ecosia.org/", "organic_search", "ecosia", "", ""),
    (LP + "?utm_source=google&utm_medium=organic", "", "organic_search", "google", "", ""),
    # --- social without tags ------------------------------------------------------------------
    (LP, "https://t.co/abc123", "social", "twitter", "", ""),
    (LP, "https://x.com/", "social", "twitter", "", ""),
    (LP, "https://www.youtube.com/", "social", "youtube", "", ""),
    (LP, "https://b.hatena.ne.jp/entry/", "social", "hatena", "", ""),
    (LP, "https://www.linkedin.com/", "social", "linkedin", "", ""),
    (LP, "https://line.me/R/", "social", "line", "", ""),
    # --- email ---------------------------------------------------------------------------------
    (
        LP + "?utm_source=newsletter&utm_medium=email&utm_campaign=2026_01",
        "",
        "email",
        "newsletter",
        "2026_01",
        "",
    ),
    (
        LP + "?utm_source=mailmagazine&utm_medium=mail&utm_campaign=vol12",
        "",
        "email",
        "mailmagazine",
        "vol12",
        "",
    ),
    (LP, "https://mail.google.com/", "email", "gmail", "", ""),
    (LP, "https://outlook.live.com/", "email", "outlook", "", ""),
    (LP, "https://mail.yahoo.co.jp/", "email", "yahoo_mail", "", ""),
    # --- display without click ids -------------------------------------------------------------
    (
        LP + "?utm_source=criteo&utm_medium=banner&utm_campaign=rt",
        "https://www.criteo.com/",
        "display",
        "criteo",
        "rt",
        "",
    ),
    (LP, "https://googleads.g.doubleclick.net/pagead/ads", "display", "google", "", ""),
    # --- referral and direct -------------------------------------------------------------
    (LP, "https://news.yahoo.co.jp/articles/abc", "referral", "news.yahoo.co.jp", "", ""),
    (LP, "https://www.ekiten.jp/shop_1/", "referral", "ekiten.jp", "", ""),
    (LP, "https://ameblo.jp/someone/entry-1.html", "referral", "ameblo.jp", "", ""),
    (
        LP + "?utm_source=partner_blog&utm_medium=affiliate&utm_campaign=a8",
        "",
        "referral",
        "partner_blog",
        "a8",
        "",
    ),
    (LP, "", "direct", "(direct)", "", ""),
    (LP + "access/", "https://www.clinic.example/", "direct", "(direct)", "", ""),
    (LP, "android-app://com.google.android.gm/", "direct", "(direct)", "", ""),
    (LP + "?utm_campaign=qr_poster", "", "direct", "(direct)", "qr_poster", ""),
    # --- keyword parameters without click ids or utm -------------------------------------------
    (
        LP + "?kw=%E6%AD%AF%E7%A7%91&mt=e",
        "https://www.google.co.jp/",
        "paid_search",
        "google",
        "",
        "歯科",
    ),
]


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
