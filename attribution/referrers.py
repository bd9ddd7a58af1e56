"""Known referrer hosts: search engines, social networks, webmail, ad servers, spam.

Host matching is by registrable suffix: ``search.yahoo.co.jp`` matches the entry
``yahoo.co.jp``; Google is recognised on every country domain (``google.co.jp``,
``google.com.au``, ``google.de`` ...). Each entry maps to the source name reports use.
"""

from __future__ import annotations

import re

# Search engines: host suffix -> source name. Japanese portals (goo, BIGLOBE, nifty,
# Rakuten, docomo, au, So-net, livedoor, excite) run Google- or Yahoo-powered search
# under their own names; they are organic search traffic with their own source.
SEARCH_ENGINES: dict[str, str] = {
    "bing.com": "bing",
    "cn.bing.com": "bing",
    "search.yahoo.co.jp": "yahoo",
    "search.yahoo.com": "yahoo",
    "duckduckgo.com": "duckduckgo",
    "baidu.com": "baidu",
    "m.baidu.com": "baidu",
    "search.naver.com": "naver",
    "yandex.ru": "yandex",
    "yandex.com": "yandex",
    "ecosia.org": "ecosia",
    "ask.com": "ask",
    "search.brave.com": "brave",
    "startpage.com": "startpage",
    "qwant.com": "qwant",
    "sogou.com": "sogou",
    "daum.net": "daum",
    "seznam.cz": "seznam",
    "search.goo.ne.jp": "goo",
    "search.biglobe.ne.jp": "biglobe",
    "search.nifty.com": "nifty",
    "websearch.rakuten.co.jp": "rakuten",
    "search.smt.docomo.ne.jp": "docomo",
    "sp-web.search.auone.jp": "auone",
    "search.auone.jp": "auone",
    "so-net.ne.jp": "so-net",
    "search.livedoor.com": "livedoor",
    "websearch.excite.co.jp": "excite",
    "search.jword.jp": "jword",
}

# Portal front pages that are search boxes; their other subdomains (news, Q&A) are not.
_PORTALS = {"yahoo.co.jp": "yahoo", "yahoo.com": "yahoo", "naver.com": "naver"}

# Google on any country domain: google.com, google.co.jp, google.com.au, google.de ...
_GOOGLE = re.compile(r"(^|\.)google\.(com|co)?(\.[a-z]{2})?$|(^|\.)google\.[a-z]{2,3}$")

SOCIAL: dict[str, str] = {
    "facebook.com": "facebook",
    "fb.me": "facebook",
    "messenger.com": "facebook",
    "instagram.com": "instagram",
    "threads.net": "threads",
    "t.co": "twitter",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "linkedin.com": "linkedin",
    "lnkd.in": "linkedin",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "tiktok.com": "tiktok",
    "line.me": "line",
    "pinterest.com": "pinterest",
    "pinterest.jp": "pinterest",
    "reddit.com": "reddit",
    "b.hatena.ne.jp": "hatena",
    "mixi.jp": "mixi",
    "weibo.com": "weibo",
    "vk.com": "vk",
    "note.com": "note",
}

WEBMAIL: dict[str, str] = {
    "mail.google.com": "gmail",
    "outlook.live.com": "outlook",
    "outlook.office.com": "outlook",
    "outlook.office365.com": "outlook",
    "mail.yahoo.co.jp": "yahoo_mail",
    "mail.yahoo.com": "yahoo_mail",
    "mail.aol.com": "aol_mail",
    "email.t-online.de": "t-online",
}

# Ad servers whose referrer marks a display ad click even when the URL is not tagged.
DISPLAY: dict[str, str] = {
    "googleads.g.doubleclick.net": "google",
    "doubleclick.net": "google",
    "googlesyndication.com": "google",
    "tpc.googlesyndication.com": "google",
    "yimg.jp": "yahoo",
    "yads.yahoo.co.jp": "yahoo",
    "criteo.com": "criteo",
    "taboola.com": "taboola",
    "outbrain.com": "outbrain",
    "logly.co.jp": "logly",
    "popin.cc": "popin",
}

# Referrer spam: hosts that send fake visits to advertise themselves.
SPAM: frozenset[str] = frozenset(
    {
        "semalt.com",
        "buttons-for-website.com",
        "buttons-for-your-website.com",
        "darodar.com",
        "ilovevitaly.com",
        "ilovevitaly.ru",
        "priceg.com",
        "blackhatworth.com",
        "hulfingtonpost.com",
        "best-seo-offer.com",
        "best-seo-solution.com",
        "get-free-traffic-now.com",
        "free-share-buttons.com",
        "social-buttons.com",
        "simple-share-buttons.com",
        "4webmasters.org",
        "trafficmonetize.org",
        "success-seo.com",
        "video--production.com",
        "econom.co",
        "floating-share-buttons.com",
        "rank-checker.online",
        "seo-platform.com",
    }
)


def normalise_host(host: str) -> str:
    """Lower case, no port, no trailing dot, no leading ``www.``/``m.``/``l.``-style label."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") or ":" not in host:
        return host.removeprefix("www.")
    return host.rsplit(":", 1)[0].removeprefix("www.")


def lookup(host: str, table: dict[str, str] | frozenset[str]) -> str | None:
    """The entry for ``host`` or its nearest parent domain in ``table`` (None if absent)."""
    parts = host.split(".")
    for i in range(len(parts) - 1):
        suffix = ".".join(parts[i:])
        if suffix in table:
            return suffix if isinstance(table, frozenset) else table[suffix]
    return None


def search_engine(host: str) -> str | None:
    """The search engine a referrer host belongs to, or None."""
    if _GOOGLE.search(host) and not host.startswith(("mail.", "accounts.", "docs.")):
        return "google"
    return _PORTALS.get(host) or lookup(host, SEARCH_ENGINES)


def social_network(host: str) -> str | None:
    """The social network a referrer host belongs to, or None."""
    return lookup(host, SOCIAL)


def webmail(host: str) -> str | None:
    """The webmail service a referrer host belongs to, or None."""
    return lookup(host, WEBMAIL)


def ad_server(host: str) -> str | None:
    """The display ad network a referrer host belongs to, or None."""
    return lookup(host, DISPLAY)


def is_spam(host: str) -> bool:
    """Whether a referrer host is a known referrer-spam domain."""
    return lookup(host, SPAM) is not None
