"""Text messages through Twilio's Messages API, opt-outs, delivery status and templates.

Sending goes through the official ``twilio`` library's REST client
(``client.messages.create_async``), given an HTTP client of ours
(:class:`backend.telephony.twilio_rest.RestHttpClient`, the library's documented
``http_client`` extension point) that speaks httpx and sends the library's
``https://api.twilio.com`` requests to ``CALLPATH_TWILIO_API_URL`` instead when that is set
(the tests' Twilio stand-in). The library's REST modules are imported at the first text,
not at start-up (they cost a second of a worker's start on a busy machine).

- The sender (``CALLPATH_SMS_SENDER``) is a number (E.164), an alphanumeric sender id
  (``CALLPATH``: 1–11 letters, digits or spaces, at least one letter) or a Messaging
  Service SID (``MG`` + 32 hex digits), see :func:`parse_sender`.
- Every text is a row of ``sms_messages`` written *before* Twilio is asked, under a
  ``dedupe_key``: a job that runs again (a lease that ran out, a restart) finds its row and
  does not text twice. A row left ``sending`` by a crash is marked ``unknown`` and not
  sent again: a reminder twice is worse than none.
- A number that replied STOP (or 停止, 配信停止, ストップ…) is in ``sms_optouts`` and is never
  texted until it replies START; Twilio's own refusal (error 21610) records it too.
- Status callbacks (``/twilio/sms/status``, signed like every Twilio webhook) move a
  message forward (queued → sent → delivered / undelivered / failed), never back.
- Templates are plain text with ``{field}`` places, filled by :func:`render`: only the
  names a kind of text offers, no attribute or index access, no conversions or format
  specifications, so a template someone typed cannot reach anything else.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from pool.numbers import NumberError, to_e164
from pool.store import Store, Tx, now_ms

log = logging.getLogger("callpath.sms")
TWILIO_API = "https://api.twilio.com"
MAX_BODY = 1600  # Twilio's limit for one message's body
# Twilio: "Attempt to send to unsubscribed recipient" (the number replied STOP to Twilio).
UNSUBSCRIBED = "21610"
# Replies that stop texts, and that start them again (Twilio's English words, and the
# Japanese a person would type); compared after NFKC (full-width letters) and upper-casing.
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "停止", "配信停止", "ストップ",
     "受信拒否", "解除"}
)  # fmt: skip
START_WORDS = frozenset({"START", "UNSTOP", "YES", "再開", "配信再開"})
# Delivery statuses in the order they happen: a late callback never moves a message back.
STATUS_RANK = {
    "sending": 0,
    "accepted": 1,
    "queued": 1,
    "scheduled": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
}
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")


class SmsError(Exception):
    """A text could not be sent; ``permanent`` ones are not worth trying again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Sender:
    """Who a text comes from: ``number``, ``alphanumeric`` sender id, or ``service``."""

    kind: str
    value: str

    def fields(self) -> dict[str, str]:
        """The Messages API field naming this sender."""
        if self.kind == "service":
            return {"messaging_service_sid": self.value}
        return {"from_": self.value}


def parse_sender(text: str, country: str = "JP") -> Sender:
    """The sender ``text`` names; ValueError when it names none."""
    text = text.strip()
    if _SERVICE.match(text):
        return Sender("service", text)
    if text.startswith("+") or text[:1].isdigit():
        try:
            return Sender("number", to_e164(text, country))
        except NumberError as exc:
            raise ValueError(f"not a sender number: {exc}") from None
    if _ALPHANUMERIC.match(text):
        return Sender("alphanumeric", text)
    raise ValueError(
        "a sender is a number (+81…), an alphanumeric id (1-11 letters, digits or spaces, "
        "one letter at least) or a Messaging Service SID (MG…)"
    )


def keyword(body: str) -> str | None:
    """``'stop'`` or ``'start'`` when a reply is one of those words, else None."""
    word = unicodedata.normalize("NFKC", body).strip().strip("。.!！ ").upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


class _Restricted(string.Formatter):
    """Only ``{name}`` with a name offered; nothing else a format string can do."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def check(self, template: str) -> None:
        try:
            parsed = list(self.parse(template))
        except ValueError as exc:
            raise ValueError(f"template: {exc}") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in self.allowed:
                offered = ", ".join("{" + n + "}" for n in sorted(self.allowed))
                raise ValueError(f"template: unknown place {{{name}}}; offered: {offered}")
            if spec or conversion:
                raise ValueError(f"template: {{{name}}} takes no format or conversion")


def check_template(template: str, allowed: frozenset[str]) -> None:
    """Raise ValueError unless ``template`` uses only ``{name}`` places from ``allowed``."""
    if len(template) > MAX_BODY:
        raise ValueError(f"template: longer than {MAX_BODY} characters")
    _Restricted(allowed).check(template)


def render(template: str, fields: Mapping[str, object]) -> str:
    """``template`` with its places filled from ``fields`` (checked first, see above)."""
    allowed = frozenset(fields)
    formatter = _Restricted(allowed)
    formatter.check(template)
    text = formatter.vformat(template, (), {k: str(v) for k, v in fields.items()})
    return text[:MAX_BODY]


@dataclass(frozen=True)
class Sent:
    """What became of a send: ``status`` is the row's (``queued``… or ``opted_out``,
    ``duplicate``, ``unknown``, ``failed``)."""

    message_id: int | None
    status: str
    sid: str = ""


class Sms:
    """Sends texts for one app (``None`` credentials: every send fails permanently)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        api_url: str = TWILIO_API,
        status_callback: str = "",
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sender = parse_sender(sender) if sender else None
        self.status_callback = status_callback
        self.configured = bool(account_sid and auth_token and self.sender)
        self._credentials = (account_sid or "AC", auth_token or "-")
        self._http_options: dict[str, Any] = {
            "base_url": api_url,
            "timeout_s": timeout_s,
            "transport": transport,
        }
        self._rest: Any = None  # (twilio Client, RestHttpClient), made at the first text

    def _client(self) -> Any:
        if self._rest is None:
            from twilio.rest import Client

            from backend.telephony.twilio_rest import RestHttpClient

            http = RestHttpClient(**self._http_options)
            self._rest = (Client(*self._credentials, http_client=http), http)
        return self._rest[0]

    async def close(self) -> None:
        """Close the HTTP client (if a text was sent)."""
        if self._rest is not None:
            await self._rest[1].close()

    async def send(
        self,
        db: Store,
        *,
        to: str,
        body: str,
        dedupe_key: str,
        advertiser_id: int | None = None,
        ref: str = "",
        kind: str = "",
    ) -> Sent:
        """Text ``body`` to ``to`` once per ``dedupe_key``.

        Raises :class:`SmsError` when Twilio refused or could not be reached (``permanent``
        when trying again will not help); the row says so too.
        """
        body = body[:MAX_BODY]
        now = now_ms()
        row = {
            "key": dedupe_key,
            "a": advertiser_id,
            "ref": ref,
            "kind": kind,
            "to": to,
            "sender": self.sender.value if self.sender else "",
            "body": body,
            "now": now,
        }

        async def begin(tx: Tx) -> tuple[int | None, str]:
            if await tx.fetchval("SELECT 1 FROM sms_optouts WHERE phone = :to", {"to": to}):
                message = await tx.fetchval(
                    "INSERT INTO sms_messages (dedupe_key, advertiser_id, ref, kind, to_number,"
                    " sender, body, status, error, created_ms, updated_ms) VALUES (:key, :a,"
                    " :ref, :kind, :to, :sender, :body, 'opted_out', 'the number replied STOP',"
                    " :now, :now) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                    row,
                )
                return message, "opted_out"
            message = await tx.fetchval(
                "INSERT INTO sms_messages (dedupe_key, advertiser_id, ref, kind, to_number,"
                " sender, body, created_ms, updated_ms) VALUES (:key, :a, :ref, :kind, :to,"
                " :sender, :body, :now, :now) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                row,
            )
            if message is not None:
                return int(message), "sending"
            # Tried before: only a failure is tried again (a crash while sending is not).
            again = await tx.fetchval(
                "UPDATE sms_messages SET status = 'sending', updated_ms = :now, body = :body"
                " WHERE dedupe_key = :key AND status = 'failed' RETURNING id",
                row,
            )
            if again is not None:
                return int(again), "sending"
            await tx.execute(
                "UPDATE sms_messages SET status = 'unknown', updated_ms = :now"
                " WHERE dedupe_key = :key AND status = 'sending'",
                row,
            )
            return None, "duplicate"

        message_id, state = await db.transact(begin)
        if state != "sending" or message_id is None:
            return Sent(message_id, state)
        try:
            sid, status = await self._create(to, body)
        except SmsError as exc:
            await _mark_failed(db, message_id, str(exc), getattr(exc, "code", ""))
            raise
        await db.execute(
            "UPDATE sms_messages SET provider_sid = :sid, status = :s, sent_ms = :now,"
            " updated_ms = :now WHERE id = :id",
            {"sid": sid, "s": status, "now": now_ms(), "id": message_id},
        )
        return Sent(message_id, status, sid)

    async def _create(self, to: str, body: str) -> tuple[str, str]:
        if not self.configured or self.sender is None:
            raise SmsError(
                "SMS is not configured (CALLPATH_TWILIO_ACCOUNT_SID, CALLPATH_TWILIO_AUTH_TOKEN,"
                " CALLPATH_SMS_SENDER)",
                permanent=True,
            )
        fields: dict[str, Any] = dict(self.sender.fields())
        if self.status_callback:
            fields["status_callback"] = self.status_callback
        from twilio.base.exceptions import TwilioRestException

        client = self._client()
        try:
            message = await client.messages.create_async(to=to, body=body, **fields)
        except TwilioRestException as exc:
            error = SmsError(
                f"Twilio refused the message: {exc.code or exc.status} {exc.msg}"[:500],
                permanent=400 <= exc.status < 500 and exc.status not in (408, 429),
            )
            error.code = str(exc.code or "")  # type: ignore[attr-defined]
            raise error from None
        except (httpx.HTTPError, OSError) as exc:
            raise SmsError(f"Twilio unreachable: {type(exc).__name__}") from None
        return str(message.sid), str(message.status or "queued")


async def _mark_failed(db: Store, message_id: int, error: str, code: str) -> None:
    async with db.write() as tx:
        await tx.execute(
            "UPDATE sms_messages SET status = 'failed', error = :e, error_code = :c,"
            " updated_ms = :now WHERE id = :id",
            {"e": error[:500], "c": code[:20], "now": now_ms(), "id": message_id},
        )
        if code == UNSUBSCRIBED:
            to = await tx.fetchval(
                "SELECT to_number FROM sms_messages WHERE id = :id", {"id": message_id}
            )
            await opt_out(tx, to, "twilio 21610")


async def opt_out(tx: Tx, phone: str, word: str, now: int | None = None) -> None:
    """Never text ``phone`` again (until it opts in)."""
    await tx.execute(
        "INSERT INTO sms_optouts (phone, keyword, at_ms) VALUES (:p, :w, :now)"
        " ON CONFLICT (phone) DO NOTHING",
        {"p": phone, "w": word[:40], "now": now_ms() if now is None else now},
    )


async def opted_out(db: Store, phone: str) -> bool:
    """Whether ``phone`` asked not to be texted."""
    return bool(await db.fetchval("SELECT 1 FROM sms_optouts WHERE phone = :p", {"p": phone}))


async def record_status(db: Store, params: Mapping[str, str]) -> bool:
    """A delivery status callback; False when the message is not ours."""
    sid = params.get("MessageSid", "").strip()[:64]
    status = params.get("MessageStatus", params.get("SmsStatus", "")).strip().lower()[:20]
    if not sid or status not in STATUS_RANK:
        return False
    now = now_ms()
    rank = STATUS_RANK[status]
    # Only forward: a 'sent' arriving after 'delivered' changes nothing.
    lower = [s for s, r in STATUS_RANK.items() if r < rank]
    names = {f"s{i}": s for i, s in enumerate(lower)}
    where = " AND status IN (" + ", ".join(":" + n for n in names) + ")" if names else " AND 0 = 1"
    changed = await db.execute(
        "UPDATE sms_messages SET status = :status, error_code = :code, updated_ms = :now,"
        " delivered_ms = CASE WHEN :status = 'delivered' THEN :now ELSE delivered_ms END"
        " WHERE provider_sid = :sid" + where,
        {"status": status, "code": params.get("ErrorCode", "")[:20], "now": now, "sid": sid,
         **names},
    )  # fmt: skip
    if changed:
        return True
    return bool(
        await db.fetchval("SELECT 1 FROM sms_messages WHERE provider_sid = :sid", {"sid": sid})
    )


async def record_inbound(db: Store, params: Mapping[str, str], country: str = "JP") -> str | None:
    """A text someone sent to one of our numbers: STOP / START recorded; what it was."""
    word = keyword(params.get("Body", "")[:200])
    sender = params.get("From", "").strip()[:40]
    if word is None or not sender:
        return None
    try:
        phone = to_e164(sender, country)
    except NumberError:
        return None
    async with db.write() as tx:
        if word == "stop":
            await opt_out(tx, phone, params.get("Body", "").strip())
        else:
            await tx.execute("DELETE FROM sms_optouts WHERE phone = :p", {"p": phone})
    return word
