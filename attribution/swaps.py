"""What the snippet needs to find and rewrite one target number: a swap of the answer.

``POST /v1/session`` answers, for each target on the page, the tracking number in its three
forms (E.164, national, international, from libphonenumber) and the data the snippet
matches with, worked out here rather than in the browser so the snippet stays small:

``p``  the regex source (JavaScript syntax) that finds the target in page text, in any of
       the forms a page writes it (``03-1234-5678``, ``+81 (0)3 1234 5678``, ``0312345678``),
       and not as part of a longer run of digits; one capturing group, no other
``n``  the length of the target's national significant number: the snippet keeps what
       comes before those last ``n`` digits of a match (``+81 (0)``, a trunk ``0``)
``g``  the tracking number's digit groups after the country code (``["50", "1700", "0001"]``)

A target of another country than the tracking number has ``n`` = all its digits and ``g``
= the tracking number's international form without its ``+`` (``["1 212-555-0101"]``):
the match is replaced whole (its ``+`` and any separators after it kept) by the
international form, with no special case in the snippet.

Also :func:`on_page`: which targets the snippet saw on the page (lease on demand).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from attribution.codes import tel_number

# Separators the snippet allows between two digits of one number: spaces, hyphens and
# dashes (ASCII, Unicode, the katakana long-vowel mark), dots, parentheses; up to three.
SEP = "[\\s\\-.()\u2010-\u2015\u2212\u30fc]{0,3}"
_DIGITS = re.compile(r"\d+")


def _pattern(digits: str) -> str:
    """A regex source for these digits with separators allowed between them."""
    return SEP.join(digits)


def swap(
    target: str, number: str, national: str, international: str, code: str = ""
) -> dict[str, object]:
    """The swap for ``target`` (E.164) shown as the tracking ``number`` (E.164).

    ``code``: the visit's code (a site with visit codes on). Then ``number`` is what a
    ``tel:`` link dials, the E.164 number, a pause and the code (``+815012345678,4821``):
    the snippet writes ``"tel:" + number`` and nothing else reads it; the page text is
    written from ``national`` / ``international`` and ``g``, so the visible number does not
    change. ``e164`` always holds the number alone, ``code`` the code.
    """
    cc = _DIGITS.findall(international)[0]
    digits = target[1:]
    own = digits.startswith(cc)  # the target shares the tracking number's country
    nsn = digits[len(cc) :] if own else digits
    trunk_digits = "".join(_DIGITS.findall(national))
    trunk = trunk_digits[: len(trunk_digits) + len(cc) + 1 - len(number)]
    if own:
        p = (
            f"(?:(?:\\+{SEP})?{_pattern(cc)}{SEP}(?:\\(0\\){SEP})?{_pattern(nsn)}"
            f"|\\(?{_pattern(trunk + nsn)})"
        )
    else:
        p = "\\+" + SEP + _pattern(digits)
    # Not when a digit follows, directly or across one - or . (an order number, a longer
    # run of digits): the snippet checks the same before the number.
    p = f"({p}(?![-.]?\\d))"  # one capturing group: the snippet tells swaps apart by it
    out: dict[str, object] = {
        "target": target,
        "number": tel_number(number, code),
        "national": national,
        "international": international,
        "p": p,
        "n": len(nsn),
        "g": _DIGITS.findall(international[1 + len(cc) :]) if own else [international[1:]],
    }
    if code:
        out["e164"] = number
        out["code"] = code
    return out


def national_significant(e164: str) -> str:
    """The digits of an E.164 number after its country code (``+81312345678`` → 312345678)."""
    import phonenumbers

    parsed = phonenumbers.parse(e164)
    return str(phonenumbers.national_significant_number(parsed))


def on_page(target: str, found: Iterable[str]) -> bool:
    """Whether the page shows ``target``: one of the digit runs the snippet found holds its
    national significant number. Runs are the digits of phone-shaped text (``0312345678``,
    ``81312345678``); a run may hold several numbers, and a false match costs only a lease."""
    nsn = national_significant(target)
    return any(nsn in run for run in found)
