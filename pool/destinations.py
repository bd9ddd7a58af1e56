"""Where calls may be forwarded: the countries an install allows, and ranges never dialled.

Every number callpath dials out to is one a member typed in: a tracking number's
``forward_to``, or a business number (target), which is where calls go when ``forward_to``
is left empty. Each call forwarded there is paid for by the install's carrier account, so a
member who may add numbers could otherwise send calls to a premium-rate line they are paid
for, or to a satellite network at several hundred yen a minute. Every place that stores
such a number (API, CSV import, dashboard, CLI) checks it here first:

- its country must be allowed: the install's list (``CALLPATH_FORWARD_COUNTRIES``, ISO
  codes such as ``JP,US``), or, when that list is empty, the country of the site the
  number belongs to. Numbers of no country at all (libphonenumber's region ``001``:
  satellite and international networks such as +881, +882, +883, +870, international
  premium rate +979) are never allowed, since no country code names them;
- its range must not be one where the caller pays a rate shared with the holder of the
  number: premium rate, shared cost, and personal numbering (UK 070, Japan 060 …), the
  ranges revenue-share fraud uses.

Numbers stored before these checks keep working (a caller is always forwarded);
:func:`destination_problem` names what is wrong with one, for the dashboard to flag it.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberType

from pool.numbers import NumberError, parse

# Ranges never dialled, with the name a person reads in the refusal.
REFUSED_TYPES: dict[int, str] = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal-numbering",
}
NO_COUNTRY = "001"  # libphonenumber's region of the non-geographic country codes


def parse_countries(text: str) -> frozenset[str]:
    """The country list of a setting (``"JP, us"`` -> ``{"JP", "US"}``); empty for ''.

    Raises ValueError naming an entry that is not a country libphonenumber knows.
    """
    found = {part.strip().upper() for part in text.replace(";", ",").split(",")}
    found.discard("")
    unknown = sorted(c for c in found if c not in phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ValueError(
            f"not ISO country codes libphonenumber knows: {', '.join(unknown)} (e.g. JP,US)"
        )
    return frozenset(found)


def allowed_countries(site_country: str, countries: Collection[str] = ()) -> frozenset[str]:
    """The countries calls of a site may be forwarded to: ``countries``, else its own."""
    if countries:
        return frozenset(c.upper() for c in countries)
    return frozenset({site_country.upper()}) if site_country else frozenset()


@functools.lru_cache(maxsize=4096)
def _kind(e164: str) -> tuple[str, int]:
    """(region, number type) of an E.164 number; ('', UNKNOWN) when it does not parse."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "", PhoneNumberType.UNKNOWN
    return phonenumbers.region_code_for_number(parsed) or "", phonenumbers.number_type(parsed)


def destination_problem(e164: str, *, site_country: str, countries: Collection[str] = ()) -> str:
    """Why calls may not be forwarded to ``e164`` (E.164), in words; '' when they may.

    ``countries``: the install's list (empty: ``site_country``; both empty, as for a
    number of no site: any country, the refused ranges still apply).
    """
    region, kind = _kind(e164)
    if kind in REFUSED_TYPES:
        return f"{e164} is a {REFUSED_TYPES[kind]} number; calls are never forwarded to one"
    allowed = allowed_countries(site_country, countries)
    if region in ("", NO_COUNTRY):
        return (
            f"{e164} belongs to no country (a satellite or international network);"
            " calls are never forwarded there"
        )
    if allowed and region not in allowed:  # no site and no list: only the ranges count
        return (
            f"{e164} is a {region} number; calls may be forwarded to"
            f" {', '.join(sorted(allowed)) or 'no country'} only (CALLPATH_FORWARD_COUNTRIES)"
        )
    return ""


def check_destination(
    text: str,
    *,
    site_country: str,
    countries: Collection[str] = (),
    field: str = "forward_to",
) -> str:
    """``text`` (national for the site's country, or international) as E.164, once it is
    known to be a valid number calls may be forwarded to.

    Raises :class:`NumberError` naming ``field`` otherwise.
    """
    try:
        parsed = parse(text, site_country or "JP")
    except NumberError as exc:
        raise NumberError(str(exc), field=field) from exc
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    problem = destination_problem(e164, site_country=site_country, countries=countries)
    if problem:
        raise NumberError(problem, field=field)
    return e164
