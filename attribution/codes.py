"""Visit codes (任意番号): a few digits dialled after a tracking number that name a visit.

A site with codes on gives each visit a short numeric code with its numbers; the snippet
puts it in the ``tel:`` links of the swapped numbers after a pause
(``tel:+815012345678,4821``), so a phone that taps the link dials it once the call is
answered, and the voice answer listens for it briefly before the call flow. A code names
its visit exactly, whoever holds the number now, and keeps naming it for the code's life
(``life_ms``, days): a caller redialling from the phone's call history is still matched.

- **Issued with the session** (:func:`code_for_session`): the session's code while it was
  issued within the late-call window; after that a new one (the old one still names the
  visit until its life ends).
- **Not reused within the late-call window**: a new code is drawn among the codes of its
  length no visit of the site was given within the window, nor, within the code's life,
  any visit that held the number this visit is shown.
- **Length from the traffic** (:func:`code_length`): the fewest digits (3 at least) for
  which the codes issued on the site within the window fill at most 5 % of the codes of
  that length, and never fewer than the longest code still alive (so every live code has
  the length the voice answer waits for, ``numDigits``).
- **Resolved** (:func:`resolve`): the digits name the visit whose code they are, issued
  within the code's life, *and whose session held the dialled number* (a code reused after
  the window by another visit that never held that number cannot take the call). Two such
  visits (a code reused after the window on the same number: rare by the length rule) name
  none: the call is matched as an ordinary call, the digits kept.

**Fixed codes** are given to offline media and campaigns (a flyer = 11, the radio = 12) on
one shared number: :func:`add_fixed`, :func:`list_fixed`, :func:`delete_fixed`. A call
with one is credited to the code's source label and campaign.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from pool.store import Row, Store, Tx, and_given

DAY_MS = 86_400_000
MIN_DIGITS = 3
MAX_DIGITS = 8
# At most this share of the codes of a length are in use within the window: a random draw
# then finds a free code at once, and a code reused after the window rarely meets the
# visit that had it on the same number.
MAX_FILL = 0.05
FIXED_CODE = re.compile(r"^[0-9]{1,6}$")
DIGITS = re.compile(r"^[0-9]{1,12}$")
# The pause put between the number and the code in a tel: link: one comma, the shortest
# pause phones know (docs/snippet.md#visit-codes-in-tel-links).
PAUSE = ","


class CodeError(ValueError):
    """A fixed code that cannot be stored (bad digits, a number that cannot carry it)."""


@dataclass(frozen=True)
class Resolved:
    """What dialled digits named: a visit (``session_id``) or a fixed code."""

    kind: str  # 'visit' or 'fixed'
    session_id: int | None = None
    code_id: int | None = None
    source_label: str = ""
    campaign: str = ""


def digits_for(issued: int) -> int:
    """How many digits codes need when ``issued`` codes are in use within the window."""
    n = MIN_DIGITS
    while n < MAX_DIGITS and (issued + 1) > MAX_FILL * 10**n:
        n += 1
    return n


async def code_length(
    db: Store | Tx, *, site_id: int, now_ms: int, window_ms: int, life_ms: int
) -> int:
    """The length of the site's next code: from the codes issued within the window, and
    never shorter than a code still alive (see the module docstring)."""
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM visit_codes WHERE site_id = :s AND issued_ms >= :since",
        {"s": site_id, "since": now_ms - window_ms},
    )
    longest = await longest_live(db, site_id=site_id, now_ms=now_ms, life_ms=life_ms)
    return max(digits_for(int(row["n"]) if row else 0), longest)


async def longest_live(db: Store | Tx, *, site_id: int, now_ms: int, life_ms: int) -> int:
    """The length of the longest code of the site still alive (0 without one)."""
    value = await db.fetchval(
        "SELECT MAX(LENGTH(code)) FROM visit_codes WHERE site_id = :s AND issued_ms >= :since",
        {"s": site_id, "since": now_ms - life_ms},
    )
    return int(value or 0)


async def code_for_session(
    tx: Tx,
    *,
    site_id: int,
    session_id: int,
    now_ms: int,
    window_ms: int,
    life_ms: int,
    number_id: int | None = None,
) -> str:
    """The visit's code: the one issued within the window, or a new one (stored).

    ``number_id``: the number the visit is shown. A new code is then also none that a
    visit holding or having held that number was given within the code's life, so a
    redial of an older code on that number still names one visit only (the overflow
    number, shared by many visitors, needs this most).
    """
    row = await tx.fetchone(
        "SELECT code FROM visit_codes WHERE session_id = :s AND issued_ms >= :since"
        " ORDER BY issued_ms DESC, id DESC LIMIT 1",
        {"s": session_id, "since": now_ms - window_ms},
    )
    if row is not None:
        return str(row["code"])
    length = await code_length(
        tx, site_id=site_id, now_ms=now_ms, window_ms=window_ms, life_ms=life_ms
    )
    code = ""
    for _ in range(20):
        code = f"{secrets.randbelow(10**length):0{length}d}"
        taken = await tx.fetchval(
            "SELECT 1 FROM visit_codes WHERE site_id = :s AND code = :c AND issued_ms >= :since",
            {"s": site_id, "c": code, "since": now_ms - window_ms},
        )
        if not taken and number_id is not None:
            taken = await tx.fetchval(
                "SELECT 1 FROM visit_codes v WHERE v.site_id = :s AND v.code = :c"
                " AND v.issued_ms >= :since AND EXISTS (SELECT 1 FROM leases l"
                "   WHERE l.session_id = v.session_id AND l.number_id = :n)",
                {"s": site_id, "c": code, "since": now_ms - life_ms, "n": number_id},
            )
        if not taken:
            break
    # (Twenty taken draws at <= 5 % fill do not happen; the last draw is kept if they do:
    # resolve() refuses digits that name two visits on one number.)
    await tx.execute(
        "INSERT INTO visit_codes (site_id, session_id, code, issued_ms) VALUES (:s, :sess, :c, :t)",
        {"s": site_id, "sess": session_id, "c": code, "t": now_ms},
    )
    return code


def tel_number(number: str, code: str) -> str:
    """The number a ``tel:`` link dials with the visit's code after a pause."""
    return f"{number}{PAUSE}{code}" if code else number


async def resolve(
    db: Store | Tx,
    *,
    number_id: int,
    site_id: int | None,
    digits: str,
    at_ms: int,
    life_ms: int,
) -> Resolved | None:
    """What ``digits`` dialled on number ``number_id`` at ``at_ms`` name, or None.

    A fixed code of the number first; else the visit of the site whose code they are,
    issued within ``life_ms`` before the call, whose session held the number by then.
    """
    if not DIGITS.match(digits):
        return None
    fixed = await db.fetchone(
        "SELECT id, source_label, campaign FROM fixed_codes WHERE number_id = :n AND code = :c",
        {"n": number_id, "c": digits},
    )
    if fixed is not None:
        return Resolved(
            "fixed",
            code_id=int(fixed["id"]),
            source_label=str(fixed["source_label"]),
            campaign=str(fixed["campaign"]),
        )
    if site_id is None:
        return None
    rows = await db.fetchall(
        "SELECT DISTINCT v.session_id FROM visit_codes v"
        " WHERE v.site_id = :s AND v.code = :c AND v.issued_ms >= :since"
        " AND v.issued_ms <= :t AND EXISTS (SELECT 1 FROM leases l"
        "   WHERE l.session_id = v.session_id AND l.number_id = :n AND l.started_ms <= :t)",
        {"s": site_id, "c": digits, "since": at_ms - life_ms, "t": at_ms, "n": number_id},
    )
    if len(rows) != 1:
        return None
    return Resolved("visit", session_id=int(rows[0]["session_id"]))


# --- fixed codes ---------------------------------------------------------------------------


def _fixed_row(row: Row) -> dict[str, object]:
    return {
        "id": int(row["id"]),
        "number_id": int(row["number_id"]),
        "number": str(row["number"]),
        "code": str(row["code"]),
        "source_label": str(row["source_label"]),
        "campaign": str(row["campaign"]),
        "created_ms": int(row["created_ms"]),
    }


_FIXED_SQL = (
    "SELECT f.id, f.number_id, n.number, f.code, f.source_label, f.campaign, f.created_ms"
    " FROM fixed_codes f JOIN tracking_numbers n ON n.id = f.number_id"
)


async def list_fixed(
    db: Store | Tx, *, number_id: int | None = None, advertiser_id: int | None = None
) -> list[dict[str, object]]:
    """Fixed codes, of one number or one advertiser's numbers (both None: all)."""
    args: dict[str, Any] = {}
    sql = (
        _FIXED_SQL
        + " WHERE 1 = 1"
        + and_given(
            args, ("f.number_id = :n", "n", number_id), ("n.advertiser_id = :a", "a", advertiser_id)
        )
    )
    return [_fixed_row(r) for r in await db.fetchall(sql + " ORDER BY n.number, f.code", args)]


async def add_fixed(
    tx: Tx, *, number_id: int, code: str, source_label: str, campaign: str, now_ms: int
) -> dict[str, object]:
    """Give ``code`` on the (source) number ``number_id`` to a medium; CodeError if the
    digits are bad, the number is not a source number, or the code is taken there, or
    is of another length than the number's other codes (the voice answer waits for one
    length, ``numDigits``)."""
    if not FIXED_CODE.match(code):
        raise CodeError("A fixed code is 1 to 6 digits.")
    number = await tx.fetchone("SELECT kind FROM tracking_numbers WHERE id = :n", {"n": number_id})
    if number is None:
        raise CodeError("No such number.")
    if number["kind"] != "source":
        raise CodeError("Fixed codes go on a source number (one shared by offline media).")
    others = await list_fixed(tx, number_id=number_id)
    if any(o["code"] == code for o in others):
        raise CodeError(f"Code {code} is already given on this number.")
    if others and len(str(others[0]["code"])) != len(code):
        raise CodeError(
            f"The codes on this number have {len(str(others[0]['code']))} digits: the call"
            " waits for that many."
        )
    new_id = await tx.fetchval(
        "INSERT INTO fixed_codes (number_id, code, source_label, campaign, created_ms)"
        " VALUES (:n, :c, :l, :camp, :t) RETURNING id",
        {"n": number_id, "c": code, "l": source_label, "camp": campaign, "t": now_ms},
    )
    row = await tx.fetchone(_FIXED_SQL + " WHERE f.id = :id", {"id": new_id})
    assert row is not None
    return _fixed_row(row)


async def delete_fixed(tx: Tx, *, code_id: int) -> bool:
    """Take a fixed code back (calls already made keep their source)."""
    return bool(await tx.execute("DELETE FROM fixed_codes WHERE id = :id", {"id": code_id}))


async def set_site_codes(tx: Tx, *, site_id: int, enabled: bool) -> None:
    """Turn visit codes on or off for a site."""
    await tx.execute(
        "UPDATE sites SET visit_codes = :on WHERE id = :s", {"on": int(enabled), "s": site_id}
    )


async def site_codes(db: Store | Tx, *, site_id: int) -> bool:
    """Whether the site has visit codes on."""
    return bool(await db.fetchval("SELECT visit_codes FROM sites WHERE id = :s", {"s": site_id}))
