"""Calls to reservation numbers: who is put through to whom, and when.

- The advertiser, from one of its registered phones, inside the window: ``<Dial>`` to the
  lead with the reservation number as caller id (the lead never sees the advertiser's
  number, and the advertiser never sees the lead's: it dialled the reservation number).
- The lead calling the number back, in or near its window (the lead may call first): put
  through to the advertiser's first registered phone, again shown the reservation number.
- The advertiser outside its window, or anyone else: a spoken message, then hang up.

Every call is kept in ``reservation_attempts`` (once per CallSid). The ``<Dial action>``
comes back to ``/twilio/reservations/dial``, which records the outcome: connected (talk
time at least the threshold: a billable connection) or a retry text planned.

Unlike a tracking number's answer (memory only, see ``backend.telephony.routing``), this
one reads a few indexed rows; reservation numbers are few and their calls are scheduled.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from backend.reservations.service import Reservations
from backend.telephony import verbs
from backend.telephony.service import Telephony
from backend.telephony.verbs import Answer
from pool.store import Tx

NEAR_MS = 60 * 60_000  # how long around its window a lead's call back still finds it
OUTSIDE = {
    "ja": "この番号は、ご予約の時間帯にのみおつなぎします。ご予約の時間におかけ直しください。",
    "en": "This number connects only during the reserved time. Please call again then.",
}
REFUSED = {
    "ja": "この番号からのお電話はおつなぎできません。",
    "en": "Calls from your number cannot be connected.",
}


def _lang(language: str) -> str:
    return "en" if language.lower().startswith("en") else "ja"


def _spoken(text: dict[str, str], language: str, voice: str) -> Answer:
    return (verbs.Say(text[_lang(language)], language, voice), verbs.Hangup())


async def answer(
    service: Reservations, tel: Telephony, params: dict[str, str], base: str
) -> Answer | None:
    """The verbs for a call to a reservation number; None when ``To`` is not one."""
    to = (params.get("To") or params.get("Called") or "").strip()[:40]
    caller = (params.get("From") or params.get("Caller") or "").strip()[:40]
    sid = params.get("CallSid", "").strip()[:64]
    db = service.db()
    number = await db.fetchone(
        "SELECT id, advertiser_id FROM reservation_numbers WHERE number = :n AND active = 1",
        {"n": to},
    )
    if number is None or not sid:
        return None
    now = service.clock()
    holding = await db.fetchone(
        "SELECT * FROM reservations WHERE number_id = :n AND status <> 'cancelled'"
        " AND hold_start_ms <= :now AND hold_end_ms > :now ORDER BY start_ms LIMIT 1",
        {"n": number["id"], "now": now},
    )
    reservation = holding
    party, outcome, dial_to = "stranger", "refused", ""
    if holding is not None and caller == holding["lead_phone"]:
        party = "lead"
    elif holding is not None and await _registered(db, int(holding["advertiser_id"]), caller):
        party = "advertiser"
        if holding["start_ms"] <= now < holding["end_ms"]:
            outcome, dial_to = "bridged", holding["lead_phone"]
        else:
            outcome = "outside_window"
    else:
        reservation = await db.fetchone(
            "SELECT * FROM reservations WHERE number_id = :n AND lead_phone = :c"
            " AND status <> 'cancelled' AND hold_start_ms < :later AND hold_end_ms > :earlier"
            " ORDER BY start_ms DESC LIMIT 1",
            {"n": number["id"], "c": caller, "later": now + NEAR_MS, "earlier": now - NEAR_MS},
        )
        if reservation is not None:
            party = "lead"
        elif await _may_use(db, number["advertiser_id"], caller):
            party, outcome = "advertiser", "outside_window"
    if party == "lead" and reservation is not None:
        phones = await db.fetchall(
            "SELECT phone FROM reservation_phones WHERE advertiser_id = :a ORDER BY id LIMIT 1",
            {"a": reservation["advertiser_id"]},
        )
        outcome = "bridged" if phones else "refused"
        dial_to = phones[0]["phone"] if phones else ""
    advertiser = reservation["advertiser_id"] if reservation is not None else None
    options = tel.table.options(advertiser) if advertiser is not None else tel.table.defaults

    async def unit(tx: Tx) -> int | None:
        attempt = await tx.fetchval(
            "INSERT INTO reservation_attempts (reservation_id, number_id, call_sid, caller,"
            " party, outcome, at_ms) VALUES (:r, :n, :sid, :c, :p, :o, :now)"
            " ON CONFLICT (call_sid) DO NOTHING RETURNING id",
            {"r": reservation["id"] if reservation is not None else None, "n": number["id"],
             "sid": sid, "c": caller, "p": party, "o": outcome, "now": now},
        )  # fmt: skip
        if attempt is None:  # Twilio asked again for the same call
            attempt = await tx.fetchval(
                "SELECT id FROM reservation_attempts WHERE call_sid = :sid", {"sid": sid}
            )
        if party == "advertiser" and outcome == "bridged" and reservation is not None:
            await tx.execute(
                "UPDATE reservations SET first_attempt_ms = COALESCE(first_attempt_ms, :now)"
                " WHERE id = :id",
                {"now": now, "id": reservation["id"]},
            )
        return int(attempt) if attempt is not None else None

    attempt_id = await db.transact(unit)
    if outcome != "bridged":
        text = OUTSIDE if outcome == "outside_window" else REFUSED
        return _spoken(text, options.language, options.voice)
    step = verbs.Forward(
        forward_to=dial_to,
        timeout_s=options.timeout_s,
        caller_id=to,  # the reservation number: neither side sees the other's number
        action_url=f"{base}/twilio/reservations/dial?attempt={quote(str(attempt_id))}",
        record=options.record,
        recording_callback_url=f"{base}/twilio/recording",
        recording_notice=tel.settings.recording_notice,
        language=options.language,
        voice=options.voice,
    )
    return verbs.forward(step)


async def _registered(db: Any, advertiser_id: int, caller: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT 1 FROM reservation_phones WHERE advertiser_id = :a AND phone = :c",
            {"a": advertiser_id, "c": caller},
        )
    )


async def _may_use(db: Any, number_advertiser: int | None, caller: str) -> bool:
    """Whether ``caller`` is a registered phone of an advertiser this number serves."""
    if number_advertiser is not None:
        return await _registered(db, int(number_advertiser), caller)
    return bool(
        await db.fetchval("SELECT 1 FROM reservation_phones WHERE phone = :c", {"c": caller})
    )
