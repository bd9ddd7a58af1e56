"""Visit codes on the phone line: listen for the code's digits before the call flow.

For a number whose site has visit codes on (or a source number carrying fixed codes), the
voice webhook first answers

    <Gather input="dtmf" numDigits="N" timeout="W" action=".../twilio/code"/>
    <Redirect>.../twilio/code</Redirect>

A phone that tapped a ``tel:+815012345678,4821`` link sends the digits after its pause;
``numDigits`` ends the wait as soon as they are in. A caller who dials by hand sends none
and goes on after ``W`` seconds (``CALLPATH_VISIT_CODE_WAIT_SECONDS``, at most 2): Twilio
then falls through to the ``<Redirect>``. ``/twilio/code`` runs the ordinary answer (the
route, the block list, ``<Dial>``), with the digits on the call's event; the matcher
decides what they name (``attribution.codes``).

Nothing here reads storage while a call waits: which numbers listen, and for how many
digits, is part of the routing table (:func:`load_listening`, run with each refresh), and
``/twilio/code`` answers from the table like ``/twilio/voice``. With the database down the
caller is forwarded as always, the digits kept in the call journal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from attribution.codes import MIN_DIGITS
from backend.telephony import twiml, verbs
from pool.store import Store, now_ms

if TYPE_CHECKING:  # the service imports the routing table, which imports this module
    from backend.telephony.service import Telephony

# The parameter the code step adds to the (signed) parameters it passes on: the digits
# heard, so the call's voice event carries them (a menu's <Gather> elsewhere never does).
DIGITS_PARAM = "callpath_code_digits"
PATH = "/twilio/code"
_DIGITS = re.compile(r"^[0-9]{1,12}$")


async def load_listening(db: Store, *, life_ms: int) -> dict[str, int]:
    """Number → how many digits its voice answer waits for (numbers not listed: none).

    Pool (and overflow) numbers of sites with visit codes on wait for the length of the
    site's longest live code (``MIN_DIGITS`` before the first); a source number with fixed
    codes for the length of its codes.
    """
    since = now_ms() - life_ms
    lengths = {
        int(r["site_id"]): int(r["n"] or 0)
        for r in await db.fetchall(
            "SELECT site_id, MAX(LENGTH(code)) AS n FROM visit_codes"
            " WHERE issued_ms >= :since GROUP BY site_id",
            {"since": since},
        )
    }
    listening: dict[str, int] = {}
    for row in await db.fetchall(
        "SELECT n.number, p.site_id FROM tracking_numbers n"
        " JOIN pools p ON p.id = n.pool_id JOIN sites s ON s.id = p.site_id"
        " WHERE s.visit_codes = 1 AND n.kind <> 'source'"
    ):
        listening[str(row["number"])] = max(MIN_DIGITS, lengths.get(int(row["site_id"]), 0))
    for row in await db.fetchall(
        "SELECT n.number, MAX(LENGTH(f.code)) AS n FROM fixed_codes f"
        " JOIN tracking_numbers n ON n.id = f.number_id GROUP BY n.number"
    ):
        listening[str(row["number"])] = int(row["n"])
    return listening


def listen_first(tel: Telephony, params: dict[str, str], base: str) -> bytes | None:
    """The ``<Gather>`` answer when the dialled number listens for a code, else None (the
    ordinary answer follows). Memory only: a number missing from the table, a blocked
    caller, a number that does not listen all get None."""
    to = (params.get("To") or params.get("Called") or "").strip()[:40]
    route = tel.table.get(to)
    digits = tel.table.listening(to)
    if route is None or not digits:
        return None
    caller = (params.get("From") or params.get("Caller") or "").strip()[:40]
    if tel.table.blocked(route.advertiser_id, caller):
        return None  # the ordinary answer rejects (and records) the call
    return gather(f"{base}{PATH}", digits, tel.settings.visit_code_wait_seconds)


def gather(action_url: str, digits: int, wait_s: int) -> bytes:
    """``<Gather>`` for ``digits`` DTMF digits within ``wait_s`` seconds, then on to
    ``action_url`` with or without them."""
    # No digits: Twilio goes on to the next verb, the <Redirect> (actionOnEmptyResult is not
    # needed).
    return twiml.render(
        (
            verbs.Gather(action_url, num_digits=digits, timeout_s=wait_s),
            verbs.Redirect(action_url),
        )
    )


def with_digits(params: dict[str, str]) -> dict[str, str]:
    """The code step's parameters with the digits heard (if any, and only digits)."""
    heard = (params.get("Digits") or "").strip()
    out = {k: v for k, v in params.items() if k != DIGITS_PARAM}
    if _DIGITS.match(heard):
        out[DIGITS_PARAM] = heard
    return out
