"""Property tests of the visit-source parsers: any URL or referrer, a bounded answer."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution import referrers
from attribution.bots import bot_reason
from attribution.origins import origin_allowed
from attribution.sources import CHANNELS, CLICK_IDS, DEFAULT_PARAMS, classify, host_of, is_new_touch

PARAM_NAMES = sorted({*CLICK_IDS, *(n for names in DEFAULT_PARAMS.values() for n in names)})
HOSTS = [
    "www.google.com",
    "www.google.co.jp",
    "search.yahoo.co.jp",
    "www.bing.com",
    "l.facebook.com",
    "t.co",
    "mail.google.com",
    "shop.example",
    "127.0.0.1:8000",
    "[2001:db8::1]:443",
    "xn--r8jz45g.jp",
]
hosts = st.one_of(
    st.sampled_from(HOSTS), st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z]{2,6}){1,2}", fullmatch=True)
)
values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["{keyword}", "%7Bkeyword%7D", "YSS.1234", "YJAD.99", "cpc", "display", ""]),
    st.text(max_size=600),
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", ""]))
    host = draw(hosts)
    path = draw(st.text(alphabet="abc/-_.%~ü", max_size=20))
    params = draw(st.dictionaries(st.sampled_from(PARAM_NAMES), values, max_size=6))
    fragment = draw(st.text(max_size=10))
    return f"{scheme}://{host}/{path}?{urlencode(params)}#{fragment}"


any_url = st.one_of(urls(), st.text(max_size=300), st.just(""))


def _bounded(source: object) -> None:
    limits = {
        "source": 128,
        "medium": 64,
        "campaign": 256,
        "campaign_id": 64,
        "ad_group": 256,
        "ad_group_id": 64,
        "keyword": 256,
        "content": 256,
        "device": 32,
        "network": 32,
        "target_id": 64,
        "placement": 256,
        "landing_url": 2048,
        "referrer": 2048,
        **dict.fromkeys(CLICK_IDS, 256),
    }
    for name, limit in limits.items():
        value = getattr(source, name)
        assert isinstance(value, str) and len(value) <= limit, (name, len(value))


@settings(max_examples=250, deadline=None)
@given(any_url, any_url, st.lists(hosts, max_size=3))
def test_classify_answers_any_url_and_referrer(url: str, referrer: str, own: list[str]) -> None:
    source = classify(url, referrer, site_hosts=own)
    assert source.channel in CHANNELS
    _bounded(source)
    assert classify(url, referrer, site_hosts=own) == source  # deterministic
    is_new_touch(source, own)


@settings(max_examples=200, deadline=None)
@given(
    hosts,
    st.sampled_from(CLICK_IDS),
    # The platforms' shape: a letter or digit, then letters, digits, '_', '.', '-' (a click
    # id of any other shape is not stored: tests/attribution/test_click_ids.py).
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", fullmatch=True),
)
def test_a_click_id_is_always_captured(host: str, click: str, value: str) -> None:
    source = classify(f"https://{host}/lp?{urlencode({click: value})}")
    assert getattr(source, click) == value
    assert source.tagged
    if click in {"gclid", "gbraid", "wbraid", "msclkid"}:
        assert source.channel in {"paid_search", "display"}


@settings(max_examples=200, deadline=None)
@given(hosts, st.text(alphabet="abc/", max_size=10), st.text(alphabet="xyz/", max_size=10))
def test_navigation_inside_the_site_is_no_new_source(host: str, a: str, b: str) -> None:
    source = classify(f"https://{host}/{a}", f"https://{host}/{b}")
    assert source.channel == "direct"
    assert not is_new_touch(source)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), urls()))
def test_host_parsing_never_raises(text: str) -> None:
    host = host_of(text)
    assert host == host.lower() and not host.startswith("www.")
    for check in (referrers.search_engine, referrers.social_network, referrers.webmail):
        check(host)
    referrers.is_spam(host)


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(labels, labels, labels, st.sampled_from(["http", "https"]))
def test_only_the_sites_domains_and_their_subdomains_pass_the_origin_check(
    name: str, sub: str, other: str, scheme: str
) -> None:
    domain = f"{name}.example"
    assert origin_allowed([domain], f"{scheme}://{domain}", f"{scheme}://{domain}/p")
    assert origin_allowed([domain], f"{scheme}://{sub}.{domain}", f"https://{sub}.{domain}/")
    # Look-alikes: a suffix without the dot, the domain as a label of another, a port trick.
    for evil in (f"{other}{domain}", f"{domain}.{other}.test", f"{other}-{name}.example"):
        if evil == domain or evil.endswith("." + domain):
            continue
        assert not origin_allowed([domain], f"https://{evil}", f"https://{domain}/")
        assert not origin_allowed([domain], "", f"https://{evil}/")
    assert not origin_allowed([domain], "null", f"https://{domain}/")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=40)))
def test_the_bot_filter_judges_any_header(agent: str, language: str | None) -> None:
    reason = bot_reason(agent, language)
    assert reason is None or reason in {
        "no_user_agent",
        "short_user_agent",
        "headless",
        "automation",
        "monitor",
        "preview",
        "library",
        "crawler",
        "no_accept_language",
    }
