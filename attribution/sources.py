"""Where a visit came from: click ids, UTM tags, tracking-template parameters, referrer.

:func:`classify` turns a landing URL and a referrer into a :class:`Source` with a channel:

==================  ============================================================
``paid_search``     a search ad click (gclid/gbraid/wbraid, yclid ``YSS.``, msclkid,
                    a paid ``utm_medium`` such as cpc/ppc, or keyword parameters)
``organic_search``  a search engine's results page (Google on any country domain,
                    Yahoo! JAPAN, Bing, DuckDuckGo, Baidu, Naver, Japanese portals)
``paid_social``     a paid medium from a social network (Meta, X, LINE, TikTok ...)
``social``          a social network, or fbclid without paid tags
``display``         display / video ads (Google network ``d``/``ytv``, yclid ``YJAD.``,
                    utm_medium display/banner/cpm, ad-server referrers)
``email``           webmail referrers or an email medium (メルマガ included)
``referral``        any other site
``direct``          no referrer and no tags
==================  ============================================================

Click ids, and what a click of each platform means, come from the platform registry
(``attribution.platforms``). Parameter names for keyword, match type, campaign, ad group ...
are configurable per site (merged before the defaults, which cover Google ValueTrack and
Yahoo! JAPAN's tracking parameters as commonly written in tracking templates).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any
from urllib.parse import urlunsplit

from attribution import platforms
from attribution import referrers as ref
from pool.urls import query_pairs, split_url

CHANNELS = (
    "paid_search",
    "organic_search",
    "paid_social",
    "social",
    "display",
    "email",
    "referral",
    "direct",
)

# Every registered click-id parameter, read from the registry at each use.
CLICK_IDS = platforms.Live(platforms.click_id_names)
CLICK_ID_MAX = 256
# The shape every platform's click ids have: base64url-like tokens (Yahoo! JAPAN's
# ``YSS.``/``YJAD.`` prefixes use the dot) whose first character is a letter or digit in
# every click id seen (Cj0…, EAIa…, 0AAA…, YSS., IwAR…, hex). Anything else is not a click
# id a platform issued, and it would go into the upload files as is: a ``yclid`` Shift_JIS
# cannot encode broke the Yahoo! file, an ``=`` at the start is a spreadsheet formula. A
# valid click id never starts like a formula, so it never needs escaping in a CSV file.
_CLICK_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{CLICK_ID_MAX - 1}}}")

# field -> parameter names tried in order. Sites add their own names in front.
DEFAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "source": ("utm_source",),
    "medium": ("utm_medium",),
    "campaign": ("utm_campaign", "campaign", "campaign_name"),
    "campaign_id": ("utm_id", "campaignid", "campaign_id"),
    "ad_group": ("utm_adgroup", "adgroup", "ad_group", "adgroup_name"),
    "ad_group_id": ("adgroupid", "adgroup_id", "ad_group_id"),
    "keyword": ("utm_term", "keyword", "kw", "keywords"),
    "match_type": ("matchtype", "match_type", "mt"),
    "content": ("utm_content", "creative", "ad_id", "adid"),
    "device": ("device",),
    "network": ("network",),
    "target_id": ("targetid", "target_id"),
    "placement": ("placement",),
}

# Parameters that mark a landing as a new touch even without utm_*/click ids.
_AD_FIELDS = ("keyword", "match_type", "campaign_id", "ad_group_id", "target_id")

_MATCH_TYPES = {"e": "exact", "p": "phrase", "b": "broad", "bb": "broad"}
_DEVICES = {"m": "mobile", "t": "tablet", "c": "desktop", "smartphone": "mobile"}
_NETWORKS = {
    "g": "search",
    "s": "search_partners",
    "d": "display",
    "ytv": "youtube",
    "x": "cross_network",
    "o": "search",  # Microsoft Advertising: owned and operated
}
_DISPLAY_MEDIA = {
    "display",
    "banner",
    "cpm",
    "expandable",
    "interstitial",
    "gdn",
    "yda",
    "video",
    "native",
}
_EMAIL_MEDIA = {"email", "e-mail", "e_mail", "mail", "newsletter", "mailmagazine", "mail_magazine"}
_SOCIAL_MEDIA = {"social", "sm", "sns", "social-network", "social_network", "social-media"}
_SOCIAL_MEDIA |= {"social_media", "social media", "organic_social"}
_PAID_SOCIAL_MEDIA = {"paid_social", "paidsocial", "paid-social", "social_paid", "social-paid"}
_REFERRAL_MEDIA = {"referral", "affiliate", "link", "app", "partner"}
_PAID_RE = re.compile(r"^(.*cp.*|ppc|sem|retargeting|paid.*|ads?)$")
# utm_source spellings that name a social network.
_SOCIAL_SOURCES = {
    "facebook",
    "fb",
    "meta",
    "instagram",
    "ig",
    "twitter",
    "x",
    "line",
    "tiktok",
    "linkedin",
    "pinterest",
    "youtube",
    "threads",
}
_SOURCE_ALIASES = {"fb": "facebook", "ig": "instagram", "yahoo.co.jp": "yahoo", "yj": "yahoo"}
# Query parameters of search result pages that still carry the terms (Bing, Yahoo! JAPAN
# at times, Baidu, Naver, Yandex); Google strips its own.
_QUERY_KEYS = ("q", "p", "query", "wd", "word", "text", "mt")
_PLACEHOLDER = re.compile(r"^\{[^{}]*\}$|^%7b.*%7d$", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One touch: where a visit came from."""

    channel: str = "direct"
    source: str = "(direct)"
    medium: str = "(none)"
    campaign: str = ""
    campaign_id: str = ""
    ad_group: str = ""
    ad_group_id: str = ""
    keyword: str = ""
    match_type: str = ""
    content: str = ""
    device: str = ""
    network: str = ""
    target_id: str = ""
    placement: str = ""
    # The click ids kept in columns (``platforms.CLICK_ID_COLUMNS``), by column name.
    gclid: str = ""
    gbraid: str = ""
    wbraid: str = ""
    yclid: str = ""
    fbclid: str = ""
    msclkid: str = ""
    landing_url: str = ""
    referrer: str = ""
    tagged: bool = False
    # Click ids the URL carried in a shape no platform issues: not kept, only counted.
    invalid_click_ids: tuple[str, ...] = ()
    # Click ids of registered platforms without a column: (parameter, value), those sent.
    other_click_ids: tuple[tuple[str, str], ...] = ()

    def as_touch(self, at_ms: int) -> dict[str, Any]:
        """The touch as a JSON-ready dict (stored in ``sessions.first_touch`` and
        ``last_touch``; a click id without a column is kept there, under its parameter)."""
        # Fields are plain strings and one flag: no deep copy (``asdict``) needed.
        data = {f: v for f in _SOURCE_FIELDS if (v := getattr(self, f)) not in ("", False)}
        data.update(self.other_click_ids)
        data["at_ms"] = at_ms
        return data

    def click_id(self, param: str) -> str:
        """The value of registered click id ``param`` ('' when the visit had none)."""
        click = next((c for c in platforms.click_ids() if c.param == param), None)
        if click is None:
            raise KeyError(param)
        if click.column:
            return str(getattr(self, click.column))
        return dict(self.other_click_ids).get(param, "")


_SOURCE_FIELDS = tuple(
    f.name
    for f in dataclass_fields(Source)
    if f.name not in {"invalid_click_ids", "other_click_ids"}
)


def valid_click_id(value: str) -> bool:
    """Whether ``value`` has the shape of a platform's click id: 1 to :data:`CLICK_ID_MAX`
    ASCII letters, digits, ``-``, ``_`` and ``.``, the first a letter or digit."""
    return _CLICK_ID.fullmatch(value) is not None


def merge_params(
    site_params: Mapping[str, Sequence[str]] | None,
) -> Mapping[str, tuple[str, ...]]:
    """Defaults with a site's own parameter names put first (unknown fields ignored)."""
    if not site_params:
        return DEFAULT_PARAMS
    merged = dict(DEFAULT_PARAMS)
    for name, extra in (site_params or {}).items():
        if name in merged and isinstance(extra, (list, tuple)):
            own = tuple(str(p).lower() for p in extra if isinstance(p, str) and p)
            merged[name] = own + tuple(p for p in merged[name] if p not in own)
    return merged


def host_of(url: str) -> str:
    """The normalised host of an http(s) URL, or '' for anything else (a URL that does
    not parse included)."""
    parts = split_url(url.strip())
    if parts is None or parts.scheme.lower() not in {"http", "https"}:
        return ""
    return ref.normalise_host(parts.hostname or "")


_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
LANDING_PAGE_MAX = 512


LANDING_URL_MAX = 2048


def url_click_ids(url: str, params: Sequence[str]) -> dict[str, str]:
    """The click ids ``params`` a stored landing URL carries, each of the platforms' shape
    (absent ones left out): how a click id without a column is read back from the landing
    URL frozen on a call. A URL of :data:`LANDING_URL_MAX` characters may have been cut
    when stored, so its last parameter is not trusted (it may be a click id cut short).
    """
    if not params or not url:
        return {}
    if len(url) >= LANDING_URL_MAX:
        url = url.rsplit("&", 1)[0] if "&" in url else url.split("?", 1)[0]
    query = _query(url)
    return {p: v for p in params if valid_click_id(v := query.get(p, ""))}


def landing_page(url: str) -> str:
    """A landing URL without query string and fragment (click ids make every URL unique):
    the page that reports group sessions by (stored as ``sessions.landing_page``).

    The same for a URL and for its cut at the first ``?`` or ``#`` (what migration 0011
    stored for sessions recorded before the column existed). At most
    :data:`LANDING_PAGE_MAX` characters (an index entry's size is bounded).
    """
    if not url:
        return ""
    parts = split_url(url)
    if parts is None:
        return _QUERY_OR_FRAGMENT.split(url, maxsplit=1)[0][:LANDING_PAGE_MAX]
    page = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    return page[:LANDING_PAGE_MAX]


def _query(url: str) -> dict[str, str]:
    pairs = query_pairs(url)  # none when the URL does not parse
    out: dict[str, str] = {}
    for key, value in pairs:
        # Decoded values may hold control characters (`%00`): PostgreSQL text cannot store
        # a NUL (a 500 there), and none of them belongs in a keyword or campaign name.
        key = _CONTROL.sub("", key).strip().lower()
        value = " ".join(_CONTROL.sub(" ", value).split())[:512]
        # An unexpanded template ({keyword}) means the ad platform filled nothing in.
        if key not in out and value and not _PLACEHOLDER.match(value):
            out[key] = value
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _first(query: Mapping[str, str], names: Sequence[str]) -> str:
    for name in names:
        if name in query:
            return query[name]
    return ""


def _is_social_source(source: str) -> bool:
    return source in _SOCIAL_SOURCES or ref.social_network(source) is not None


def _channel_for_medium(medium: str, source: str) -> str:
    social = _is_social_source(source)
    if medium in _EMAIL_MEDIA or "mail" in source or "newsletter" in source:
        return "email"
    if medium in _PAID_SOCIAL_MEDIA:
        return "paid_social"
    if medium in _DISPLAY_MEDIA:
        return "display"
    if _PAID_RE.match(medium):
        return "paid_social" if social else "paid_search"
    if medium == "organic":
        return "organic_search"
    if medium in _SOCIAL_MEDIA or social:
        return "social"
    if medium in _REFERRAL_MEDIA:
        return "referral"
    if not medium and ref.search_engine(source) is not None:
        return "organic_search"
    return "referral"


def _referrer_touch(ref_host: str, referrer: str) -> tuple[str, str, str, str]:
    """(channel, source, medium, keyword) from an external referrer alone."""
    mail = ref.webmail(ref_host)
    if mail:
        return "email", mail, "email", ""
    engine = ref.search_engine(ref_host)
    if engine:
        return "organic_search", engine, "organic", _first(_query(referrer), _QUERY_KEYS)
    network = ref.social_network(ref_host)
    if network:
        return "social", network, "social", ""
    ads = ref.ad_server(ref_host)
    if ads:
        return "display", ads, "display", ""
    return "referral", ref_host, "referral", ""


def classify(
    url: str,
    referrer: str = "",
    *,
    site_hosts: Sequence[str] = (),
    params: Mapping[str, Sequence[str]] | None = None,
) -> Source:
    """Classify a landing ``url`` and its ``referrer`` into a :class:`Source`.

    ``site_hosts`` are the site's own hostnames: a referrer from one of them (or from the
    page's own host) is internal navigation, not a source. ``params`` are the site's
    parameter names (see :func:`merge_params`).
    """
    names = merge_params(params)
    query = _query(url)
    fields = {name: _first(query, keys) for name, keys in names.items()}
    sent = {c.param: query.get(c.param, "") for c in platforms.click_ids()}
    # A click id of another shape is treated as absent (and reported, to be counted).
    clicks = {cid: value if valid_click_id(value) else "" for cid, value in sent.items()}
    invalid = tuple(cid for cid, value in sent.items() if value and not clicks[cid])
    source = fields["source"].lower()
    source = _SOURCE_ALIASES.get(source, source)
    medium = fields["medium"].lower()
    network = _NETWORKS.get(fields["network"].lower(), fields["network"].lower())
    page_host = host_of(url)
    ref_host = host_of(referrer)
    own = {ref.normalise_host(h) for h in site_hosts} | {page_host}
    external = bool(ref_host) and ref_host not in own
    ad_params = any(fields[f] for f in _AD_FIELDS)
    tagged = bool(source or medium or fields["campaign"] or ad_params or any(clicks.values()))
    keyword = fields["keyword"]
    # The platform whose click id the visit carries (a paid click ahead of the others).
    clicked = next(
        (p for p in platforms.by_precedence() if any(clicks[c.param] for c in p.click_ids)),
        None,
    )
    paid = clicked if clicked is not None and clicked.classification.paid_click else None

    if paid is not None:
        rule = paid.classification
        display = network in rule.display_networks or any(
            c.is_display(clicks[c.param]) for c in paid.click_ids if clicks[c.param]
        )
        source = source or rule.source
        medium = medium or ((rule.display_medium or rule.medium) if display else rule.medium)
        channel = "display" if display or medium in _DISPLAY_MEDIA else rule.channel
    elif source or medium:
        if not source and external:
            source = ref.search_engine(ref_host) or ref.social_network(ref_host) or ref_host
        channel = _channel_for_medium(medium, source)
    elif clicked is not None:
        # A click id the platform appends to organic links too (Meta's fbclid): only paid
        # tags (handled above) make the visit paid.
        rule = clicked.classification
        source = (ref.social_network(ref_host) if external else None) or rule.source
        medium, channel = rule.medium, rule.channel
    elif ad_params:
        engine = ref.search_engine(ref_host) if external else None
        source = engine or (ref_host if external else "")
        medium, channel = "cpc", "paid_search"
    elif external:
        channel, source, medium, organic_kw = _referrer_touch(ref_host, referrer)
        keyword = keyword or organic_kw
    else:
        channel, source, medium = "direct", "(direct)", "(none)"

    columns = {c.column: clicks[c.param] for c in platforms.click_ids() if c.column}
    others = tuple((c.param, clicks[c.param]) for c in platforms.click_ids() if not c.column)
    return Source(
        channel=channel,
        source=source[:128],
        medium=medium[:64],
        campaign=(fields["campaign"] or fields["campaign_id"])[:256],
        campaign_id=fields["campaign_id"][:64],
        ad_group=(fields["ad_group"] or fields["ad_group_id"])[:256],
        ad_group_id=fields["ad_group_id"][:64],
        keyword=keyword[:256],
        match_type=_MATCH_TYPES.get(fields["match_type"].lower(), fields["match_type"].lower()),
        content=fields["content"][:256],
        device=_DEVICES.get(fields["device"].lower(), fields["device"].lower())[:32],
        network=network[:32],
        target_id=fields["target_id"][:64],
        placement=fields["placement"][:256],
        landing_url=url[:LANDING_URL_MAX],
        referrer=referrer[:2048],
        tagged=tagged,
        invalid_click_ids=invalid,
        other_click_ids=tuple((p, v) for p, v in others if v),
        **columns,
    )


def is_new_touch(source: Source, site_hosts: Sequence[str] = ()) -> bool:
    """Whether a page view starts a new touch: tagged, or from an external referrer."""
    if source.tagged:
        return True
    ref_host = host_of(source.referrer)
    own = {ref.normalise_host(h) for h in site_hosts} | {host_of(source.landing_url)}
    return bool(ref_host) and ref_host not in own
