"""The ad platforms callpath knows, declared once: every list of click ids reads this registry.

A :class:`Platform` says everything the code needs to know about one ad platform:

- its click ids (:class:`ClickId`): the landing-URL parameter, and the column it is kept in
  (``sessions.<column>`` and ``calls.touch_<column>``) or none;
- how a click of it is classified (:class:`Classification`): default source, medium and
  channel, which clicks are display clicks (Yahoo! JAPAN's ``YJAD.`` yclid, Google's
  display and YouTube networks), and whether the click id alone makes a visit paid;
- its offline conversion file (:class:`ConversionFormat`): header, click-id columns, time
  format and zone, encoding, file name;
- how the whisper names its visits (:class:`Spoken`) and its label in the dashboard.

Classification (``attribution.sources``), sessions and the touch frozen on a call
(``attribution.sessions``, ``attribution.touch``), path exports (``attribution.exports``),
conversion files (``attribution.conversions``), the whisper, the call page, the API and the
CLI all read it. A platform key the registry does not hold is an error
(:class:`UnknownPlatform`), never a fall-through to another platform's click id or format.

Storage: the click ids of the built-in platforms have columns (:data:`CLICK_ID_COLUMNS`, the
schema's). A click id without a column is kept in the session's touch JSON
(``sessions.last_touch`` / ``first_touch``, under its parameter name) and read back from the
landing URL frozen on the call (``calls.touch_landing_url``), which is the URL it came in
on: a new platform needs no migration. ``docs/contributing.md`` ("Adding an ad platform")
says how to add one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import overload

# The click-id columns the schema has, on ``sessions`` (m0001) and as ``calls.touch_<name>``
# (m0018), in the order exports list them. A click id may use one of these columns only;
# a new column would need a migration adding it to both tables (and its name here).
CLICK_ID_COLUMNS = ("gclid", "gbraid", "wbraid", "yclid", "fbclid", "msclkid")

# Names a click-id parameter must not take: the other fields of a stored touch (the touch
# JSON keeps column-less click ids under their parameter name, next to these) and the
# session's own fields shown with the click ids.
RESERVED_NAMES = frozenset(
    "channel source medium campaign campaign_id ad_group ad_group_id keyword match_type content"
    " device network target_id placement landing_url landing_page referrer tagged at_ms"
    " ga_client_id invalid_click_ids other_click_ids".split()
)
_PARAM = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,19}")


class UnknownPlatform(ValueError):
    """A platform key the registry does not hold (or, for a file, one without a file)."""


@dataclass(frozen=True)
class ClickId:
    """One click-id parameter of a platform.

    ``param`` is the landing-URL query parameter (lower case); it is also the click id's
    name in exports, the API and the stored touch. ``column`` is the schema column that
    keeps it (one of :data:`CLICK_ID_COLUMNS`), or '' for none (see the module docstring).
    A value starting with one of ``display_prefixes`` (case-insensitive) is a display ad's
    click: classified as display, and never written to the platform's (search) file.
    """

    param: str
    column: str = ""
    display_prefixes: tuple[str, ...] = ()

    def is_display(self, value: str) -> bool:
        """Whether ``value`` is a display ad's click id (by its prefix)."""
        upper = value.upper()
        return any(upper.startswith(p.upper()) for p in self.display_prefixes)


@dataclass(frozen=True)
class Classification:
    """How a visit carrying one of the platform's click ids is classified.

    With ``paid_click`` the click id decides the visit ahead of UTM tags: the tags' source
    and medium are kept where sent, ``source``/``medium`` fill what they leave out, and the
    channel is ``channel`` (``display`` for a display click: a ``display_prefixes`` click
    id, a ValueTrack ``network`` in ``display_networks``, or a display utm_medium). A display
    click without a utm_medium gets ``display_medium`` ('' : ``medium``).

    Without ``paid_click`` (Meta appends fbclid to every outbound link, organic shares
    included) the click id counts only when the visit has no source or medium tags; its
    source is then the social network of the referrer, else ``source``.
    """

    source: str
    medium: str = "cpc"
    channel: str = "paid_search"
    display_medium: str = ""
    display_networks: tuple[str, ...] = ()
    paid_click: bool = True


@dataclass(frozen=True)
class ConversionFormat:
    """The platform's offline click-conversion upload file.

    ``columns`` are the click-id columns as (click-id parameter, header), the first always
    there; the others are added (all together) only when a row's click id is not the first
    one (Google's ``GBRAID``/``WBRAID``). A row takes the first click id of ``columns`` the
    call's touch carries. ``tail`` names the conversion name, time, value and currency
    columns. Times are written with ``time_format`` in ``zone`` ('' : the zone asked for at
    export time, written as UTC when it has daylight saving). ``timezone_row`` is written
    first, ``{offset}`` filled in ('' : no such row). The file is encoded in ``encoding``
    (``encoding_name`` in messages, ``charset`` in the media type; a row it cannot encode is
    left out as ``not_<charset>``).
    """

    columns: tuple[tuple[str, str], ...]
    tail: tuple[str, str, str, str] = (
        "Conversion Name",
        "Conversion Time",
        "Conversion Value",
        "Conversion Currency",
    )
    time_format: str = "%Y-%m-%d %H:%M:%S"
    zone: str = ""
    timezone_row: str = "Parameters:TimeZone={offset}"
    encoding: str = "utf-8"
    encoding_name: str = "UTF-8"
    charset: str = "utf-8"
    filename: str = "{platform}-conversions-{batch}.csv"
    # The platform's adjustment upload (retract / restate a conversion sent before): its
    # columns in order as (field, header), fields being ``click``, ``name``, ``time`` (the
    # conversion's time as first sent), ``adjusted_at``, ``type``, ``value``, ``currency``;
    # and its words for (retract, restate). No columns: the platform takes no adjustments.
    adjustment_columns: tuple[tuple[str, str], ...] = (
        ("click", "Google Click ID"),
        ("name", "Conversion Name"),
        ("time", "Conversion Time"),
        ("adjusted_at", "Adjustment Time"),
        ("type", "Adjustment Type"),
        ("value", "Adjusted Value"),
        ("currency", "Adjusted Value Currency"),
    )
    adjustment_types: tuple[str, str] = ("RETRACT", "RESTATE")

    @property
    def click_params(self) -> tuple[str, ...]:
        """The click ids the file takes, in the order a row looks for them."""
        return tuple(param for param, _ in self.columns)

    @property
    def narrow(self) -> bool:
        """Whether the encoding cannot write every character (names are checked against it)."""
        return self.encoding.lower().replace("-", "").replace("_", "") != "utf8"

    @property
    def media_type(self) -> str:
        """The file's media type."""
        return f"text/csv; charset={self.charset}"


@dataclass(frozen=True)
class Spoken:
    """How the whisper (入電ガイダンス) names a visit from ``source`` (the classified source
    contains it: ``google`` names ``google.co.jp`` too), per language: (an ad click, a visit
    that is not paid)."""

    source: str
    ja: tuple[str, str]
    en: tuple[str, str]

    def label(self, lang: str, paid: bool) -> str:
        """The label in ``lang`` (``ja`` or anything else: English)."""
        pair = self.ja if lang == "ja" else self.en
        return pair[0] if paid else pair[1]


@dataclass(frozen=True)
class Platform:
    """One ad platform: its click ids, classification, conversion file and labels."""

    key: str
    label: str
    click_ids: tuple[ClickId, ...]
    classification: Classification
    conversions: ConversionFormat | None = None
    spoken: tuple[Spoken, ...] = ()

    def click_id(self, param: str) -> ClickId:
        """The platform's click id ``param`` (KeyError when it has none of that name)."""
        for click in self.click_ids:
            if click.param == param:
                return click
        raise KeyError(param)


GOOGLE = Platform(
    key="google",
    label="Google Ads",
    click_ids=(ClickId("gclid", "gclid"), ClickId("gbraid", "gbraid"), ClickId("wbraid", "wbraid")),
    classification=Classification("google", display_networks=("display", "youtube")),
    conversions=ConversionFormat(
        columns=(("gclid", "Google Click ID"), ("gbraid", "GBRAID"), ("wbraid", "WBRAID"))
    ),
    spoken=(Spoken("google", ("Google広告", "Google検索"), ("Google Ads", "Google search")),),
)
YAHOO = Platform(
    key="yahoo",
    label="Yahoo! JAPAN Ads",
    # Yahoo! JAPAN prefixes yclid with YSS. for search ads and YJAD. for display ads;
    # display conversions have their own upload, never the search ads file.
    click_ids=(ClickId("yclid", "yclid", display_prefixes=("YJAD",)),),
    classification=Classification("yahoo", display_medium="display"),
    conversions=ConversionFormat(
        columns=(("yclid", "YCLID"),),
        tail=(
            "コンバージョン名",
            "コンバージョン発生日時",
            "1コンバージョンあたりの価値",
            "通貨コード",
        ),
        time_format="%Y%m%d %H%M%S",
        zone="Asia/Tokyo",
        timezone_row="",
        # The encoding of Yahoo!'s own upload template.
        encoding="cp932",
        encoding_name="Shift_JIS",
        charset="shift_jis",
        # 調整用テンプレート: a conversion is found by its YCLID and コンバージョン発生日時.
        adjustment_columns=(
            ("click", "YCLID"),
            ("name", "コンバージョン名"),
            ("time", "コンバージョン発生日時"),
            ("type", "調整タイプ"),
            ("adjusted_at", "調整日時"),
            ("value", "調整後の1コンバージョンあたりの価値"),
            ("currency", "通貨コード"),
        ),
        adjustment_types=("削除", "修正"),
    ),
    spoken=(Spoken("yahoo", ("Yahoo!広告", "Yahoo!検索"), ("Yahoo! Ads", "Yahoo! search")),),
)
META = Platform(
    key="meta",
    label="Meta Ads",
    click_ids=(ClickId("fbclid", "fbclid"),),
    classification=Classification("facebook", "social", "social", paid_click=False),
    spoken=(
        Spoken("facebook", ("Meta広告", "Facebook"), ("Meta ads", "Facebook")),
        Spoken("instagram", ("Meta広告", "Instagram"), ("Meta ads", "Instagram")),
    ),
)
MICROSOFT = Platform(
    key="microsoft",
    label="Microsoft Advertising",
    click_ids=(ClickId("msclkid", "msclkid"),),
    classification=Classification("bing"),
    # Microsoft's template ends the parameters row with ";", Google's does not.
    conversions=ConversionFormat(
        columns=(("msclkid", "Microsoft Click ID"),),
        timezone_row="Parameters:TimeZone={offset};",
        adjustment_columns=(
            ("click", "Microsoft Click ID"),
            ("name", "Conversion Name"),
            ("time", "Conversion Time"),
            ("value", "Adjustment Value"),
            ("type", "Adjustment Type"),
            ("currency", "Adjustment Currency Code"),
            ("adjusted_at", "Adjustment Time"),
        ),
        adjustment_types=("Retract", "Restate"),
    ),
    spoken=(Spoken("bing", ("Microsoft広告", "Bing検索"), ("Microsoft Ads", "Bing search")),),
)
# Registration order is the order of click-id columns in exports and of the call page.
BUILT_IN = (GOOGLE, YAHOO, META, MICROSOFT)

_registry: dict[str, Platform] = {}


def _check(platform: Platform) -> None:
    """ValueError unless ``platform`` can join the registry as it is now."""
    if not _KEY.fullmatch(platform.key) or platform.key in _registry or platform.key == "ga4":
        raise ValueError(f"platform key {platform.key!r} is taken or not a lower-case name")
    if not platform.click_ids:
        raise ValueError(f"platform {platform.key!r} has no click id")
    params = {c.param for p in _registry.values() for c in p.click_ids}
    columns = {c.column for p in _registry.values() for c in p.click_ids if c.column}
    own: set[str] = set()
    for click in platform.click_ids:
        if not _PARAM.fullmatch(click.param) or click.param in RESERVED_NAMES:
            raise ValueError(f"click id {click.param!r} is not a free lower-case name")
        if click.param in params or click.param in own:
            raise ValueError(f"click id {click.param!r} belongs to another platform")
        if click.column and (click.column not in CLICK_ID_COLUMNS or click.column in columns):
            # A column of its own needs a migration; without one, leave ``column`` empty.
            raise ValueError(f"column {click.column!r} is not a free click-id column")
        if not click.column and click.param in CLICK_ID_COLUMNS:
            raise ValueError(f"click id {click.param!r} names a column it does not use")
        own.add(click.param)
        columns.add(click.column)
    if platform.conversions is not None:
        file_ids = platform.conversions.click_params
        if not file_ids or not set(file_ids) <= own:
            raise ValueError(f"platform {platform.key!r}: its file takes its own click ids only")


def register(platform: Platform) -> Platform:
    """Add ``platform`` to the registry (ValueError when it clashes with one there)."""
    _check(platform)
    _registry[platform.key] = platform
    return platform


def unregister(key: str) -> None:
    """Take platform ``key`` out of the registry (UnknownPlatform when it is not there)."""
    get(key)
    del _registry[key]


@contextmanager
def registered(platform: Platform) -> Iterator[Platform]:
    """``platform`` in the registry for the duration of a ``with`` block (tests)."""
    register(platform)
    try:
        yield platform
    finally:
        _registry.pop(platform.key, None)


def get(key: str) -> Platform:
    """The platform ``key``; :class:`UnknownPlatform` when the registry has none."""
    try:
        return _registry[key]
    except KeyError:
        raise UnknownPlatform(f"unknown ad platform {key!r}; known: {keys()}") from None


def file_format(key: str) -> ConversionFormat:
    """The conversion file format of platform ``key`` (UnknownPlatform: no such platform,
    or one without an upload file)."""
    fmt = get(key).conversions
    if fmt is None:
        raise UnknownPlatform(f"ad platform {key!r} has no conversion file")
    return fmt


def platforms() -> tuple[Platform, ...]:
    """Every platform, in registration order."""
    return tuple(_registry.values())


def by_precedence() -> tuple[Platform, ...]:
    """Every platform, those whose click id makes a visit paid first (registration order
    within each): the order in which a visit's click ids are looked at."""
    every = platforms()
    return tuple(p for p in every if p.classification.paid_click) + tuple(
        p for p in every if not p.classification.paid_click
    )


def keys() -> tuple[str, ...]:
    """Every platform key, in registration order."""
    return tuple(_registry)


def file_platforms() -> tuple[str, ...]:
    """The keys of the platforms that have an offline conversion file."""
    return tuple(p.key for p in _registry.values() if p.conversions is not None)


def click_ids() -> tuple[ClickId, ...]:
    """Every click id of every platform, in registration order."""
    return tuple(c for p in _registry.values() for c in p.click_ids)


def click_id_names() -> tuple[str, ...]:
    """Every click-id parameter, in registration order."""
    return tuple(c.param for c in click_ids())


def unstored_click_ids() -> tuple[str, ...]:
    """The click-id parameters without a column (read from the touch JSON / landing URL)."""
    return tuple(c.param for c in click_ids() if not c.column)


class Live(Sequence[str]):
    """A read-only sequence of names read from the registry at each use, so a constant
    such as ``conversions.FILE_PLATFORMS`` never goes stale when a platform is added."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return tuple(self._names())[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._names()))

    def __contains__(self, value: object) -> bool:
        return value in tuple(self._names())

    def __repr__(self) -> str:
        return repr(tuple(self._names()))


for _platform in BUILT_IN:
    register(_platform)
