"""Conversion actions sent straight to the platforms' APIs, without a file in between.

An action (:mod:`attribution.conversion_actions`) may have a direct upload: its calls go to
the platform's conversion API instead of (not as well as) a file or feed, each call once
(destination ``api`` in ``conversion_sent``). Every platform is an :class:`Uploader` behind
one interface; the base URLs are settings, so tests and staging point them at stand-ins.

- **Google Ads API** (:class:`GoogleAds`): an OAuth access token from the refresh token
  (``grant_type=refresh_token`` at the token URL), then
  ``customers/{id}:uploadClickConversions`` with ``partialFailure``: rows Google refuses
  are reported one by one and stay unsent, to be tried again.
- **Meta Conversions API** (:class:`Meta`): ``{pixel}/events`` with ``action_source``
  ``phone_call``, the click as ``fbc`` and ``event_id`` ``callpath-<action>-<call>`` so
  Meta drops a repeat.

**Enhanced conversions for leads**: with ``consent_user_data`` ``GRANTED`` for the
upload, the caller's number goes too, normalised to E.164 with ``phonenumbers`` and
SHA-256 hashed (Google: ``userIdentifiers.hashedPhoneNumber`` of ``+8190…``; Meta:
``user_data.ph`` of the digits without ``+``); with anything else it never leaves, and
Google is told ``adUserData: DENIED``.

Each call is claimed (written to ``conversion_sent``) before it is sent and the claim is
dropped when the send fails, so two runs never send one call twice and a failure is tried
again by the next run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import orjson
import phonenumbers

from attribution import conversions, outbound, platforms
from attribution.conversion_actions import Action, call_value, calls_sql, get_action, site_zone
from attribution.errors import FieldError
from attribution.upload_policy import UploadPolicy
from pool.scope import EVERYTHING
from pool.store import Store

KINDS = ("google_ads", "meta")
PLATFORM_OF = {"google_ads": "google", "meta": "meta"}
CONSENT = ("", "GRANTED", "DENIED")
DESTINATION = "api"
# Google Ads takes click conversions up to 90 days after the click; Meta events up to 7
# days old. A run looks back this far for calls not sent yet.
LOOKBACK_DAYS = {"google_ads": 90, "meta": 7}
_DAY_MS = 86_400_000
_DIGITS = re.compile(r"[0-9]{1,20}")
_BATCH = 200  # rows per request (Google takes up to 2,000; Meta 1,000)


class UploadConfigError(FieldError):
    """An upload configuration that cannot be stored; ``field`` names the culprit."""


@dataclass(frozen=True)
class Endpoints:
    """The platforms' base URLs (settings: Google's and Meta's own by default)."""

    google_ads: str = "https://googleads.googleapis.com"
    google_token: str = "https://oauth2.googleapis.com/token"
    meta_graph: str = "https://graph.facebook.com"


@dataclass(frozen=True)
class UploadConfig:
    """How an action's calls reach a platform's API (``secret`` is never shown again)."""

    kind: str
    config: Mapping[str, str]
    secret: str = ""
    consent_user_data: str = ""
    enabled: bool = True

    def public(self) -> dict[str, Any]:
        """The configuration as the API shows it: without the secret."""
        return {
            "kind": self.kind,
            "config": dict(self.config),
            "has_secret": bool(self.secret),
            "consent_user_data": self.consent_user_data,
            "enabled": self.enabled,
        }


# Per kind: configuration keys, and the ones that must be digits (they go into URL paths).
_KEYS = {
    "google_ads": {
        "customer_id": True,
        "conversion_action_id": True,
        "login_customer_id": True,
        "developer_token": False,
        "client_id": False,
        "client_secret": False,
        "api_version": False,
    },
    "meta": {"pixel_id": True, "event_name": False, "api_version": False},
}
_REQUIRED = {
    "google_ads": (
        "customer_id",
        "conversion_action_id",
        "developer_token",
        "client_id",
        "client_secret",
    ),
    "meta": ("pixel_id",),
}
_VERSION = re.compile(r"v[0-9]{1,3}(\.[0-9]{1,2})?")


def check_config(upload: UploadConfig) -> UploadConfig:
    """The configuration checked (:class:`UploadConfigError` naming the field otherwise)."""
    if upload.kind not in KINDS:
        raise UploadConfigError("kind", f"kind must be one of {list(KINDS)}")
    keys = _KEYS[upload.kind]
    clean: dict[str, str] = {}
    for key, value in upload.config.items():
        if key not in keys:
            raise UploadConfigError(f"config.{key}", f"{upload.kind} takes no {key!r}")
        if not isinstance(value, str) or len(value) > 200 or not value.isprintable():
            raise UploadConfigError(f"config.{key}", f"{key} must be text of ≤ 200 characters")
        value = value.strip().replace("-", "") if keys[key] else value.strip()
        if keys[key] and value and not _DIGITS.fullmatch(value):
            raise UploadConfigError(f"config.{key}", f"{key} must be digits")
        if key == "api_version" and value and not _VERSION.fullmatch(value):
            raise UploadConfigError(f"config.{key}", "api_version looks like v18 or v21.0")
        if value:
            clean[key] = value
    for key in _REQUIRED[upload.kind]:
        if key not in clean:
            raise UploadConfigError(f"config.{key}", f"{upload.kind} needs {key}")
    if upload.consent_user_data not in CONSENT:
        raise UploadConfigError("consent_user_data", "consent_user_data: GRANTED, DENIED or ''")
    if not upload.secret or len(upload.secret) > 2000:
        raise UploadConfigError("secret", "the platform's refresh or access token is needed")
    return UploadConfig(
        upload.kind, clean, upload.secret, upload.consent_user_data, bool(upload.enabled)
    )


async def save_config(db: Store, action: Action, upload: UploadConfig, *, now_ms: int) -> None:
    """Store the action's upload (replacing one it had). ``secret`` empty keeps the stored
    one, so the configuration can be changed without typing the token again."""
    if not upload.secret:
        stored = await get_config(db, action.id)
        if stored is not None and stored.kind == upload.kind:
            upload = UploadConfig(
                upload.kind, upload.config, stored.secret, upload.consent_user_data, upload.enabled
            )
    upload = check_config(upload)
    if PLATFORM_OF[upload.kind] != action.platform:
        raise UploadConfigError("kind", f"a {action.platform} action cannot use {upload.kind}")
    values = {
        "a": action.id,
        "k": upload.kind,
        "c": orjson.dumps(dict(upload.config)).decode(),
        "s": upload.secret,
        "cons": upload.consent_user_data,
        "e": int(upload.enabled),
        "t": now_ms,
    }
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO conversion_uploads (action_id, kind, config, secret, consent_user_data,"
            " enabled, updated_ms) VALUES (:a, :k, :c, :s, :cons, :e, :t)"
            " ON CONFLICT (action_id) DO UPDATE SET kind = excluded.kind,"
            " config = excluded.config, secret = excluded.secret,"
            " consent_user_data = excluded.consent_user_data, enabled = excluded.enabled,"
            " updated_ms = excluded.updated_ms",
            values,
        )


async def get_config(db: Store, action_id: int) -> UploadConfig | None:
    """The action's upload, or None."""
    row = await db.fetchone(
        "SELECT kind, config, secret, consent_user_data, enabled FROM conversion_uploads"
        " WHERE action_id = :a",
        {"a": action_id},
    )
    if row is None:
        return None
    return UploadConfig(
        row["kind"],
        orjson.loads(row["config"]),
        row["secret"],
        row["consent_user_data"],
        bool(row["enabled"]),
    )


def _e164(caller: str) -> str:
    """The caller's number in E.164 ('' when it is not a valid number)."""
    try:
        number = phonenumbers.parse(caller, "JP")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hashed_phone(caller: str) -> str:
    """The caller's number in E.164, SHA-256 in hex ('' when it is not a valid number)."""
    e164 = _e164(caller)
    return hashlib.sha256(e164.encode()).hexdigest() if e164 else ""


@dataclass(frozen=True)
class UploadRow:
    """One call as a conversion to send."""

    call_id: int
    click_param: str
    click_id: str
    time: datetime
    value: str
    currency: str
    phone_sha256: str  # '' without consent or number
    event_id: str
    click_ms: int


@dataclass
class UploadResult:
    """What a run did: calls the platform took, refused (with its reason), left out."""

    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The result as the API gives it."""
        return {
            "sent": len(self.sent),
            "failed": [{"call_id": c, "reason": r} for c, r in sorted(self.failed.items())],
            "skipped": self.skipped,
        }


class Uploader(Protocol):
    """A platform's conversion API."""

    async def upload(self, rows: Sequence[UploadRow]) -> dict[int, str]:
        """Send ``rows``; the call ids refused, with the platform's reason."""
        ...


def _number(value: str) -> int | float:
    # The APIs take a JSON number; an integral amount stays an integer.
    amount = Decimal(value)
    return int(amount) if amount == amount.to_integral_value() else float(amount)


class _Poster:
    """What both platforms' uploaders share: the client, the policy, the configuration."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: outbound.OutboundPolicy,
        endpoints: Endpoints,
        upload: UploadConfig,
    ) -> None:
        self.client, self.policy = client, policy
        self.endpoints, self.conf = endpoints, upload

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        """(status, decoded JSON or None); status 0 when nothing answered."""
        try:
            response = await outbound.post(
                self.client, url, self.policy, content=body, headers=headers
            )
        except (outbound.Refused, outbound.Unreachable, httpx.HTTPError) as exc:
            return 0, str(exc)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None


class GoogleAds(_Poster):
    """``uploadClickConversions`` of the Google Ads API (REST)."""

    async def _token(self) -> str | None:
        c = self.conf.config
        form = httpx.QueryParams(
            {
                "grant_type": "refresh_token",
                "refresh_token": self.conf.secret,
                "client_id": c["client_id"],
                "client_secret": c["client_secret"],
            }
        )
        status, body = await self.post(
            self.endpoints.google_token,
            str(form).encode(),
            {"content-type": "application/x-www-form-urlencoded"},
        )
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            return None
        return str(body["access_token"])

    async def upload(self, rows: Sequence[UploadRow]) -> dict[int, str]:
        token = await self._token()
        if token is None:
            return {r.call_id: "google_oauth_refused" for r in rows}
        c = self.conf.config
        customer = c["customer_id"]
        version = c.get("api_version", "v18")
        granted = self.conf.consent_user_data == "GRANTED"
        conversions_out = []
        for r in rows:
            item: dict[str, Any] = {
                r.click_param: r.click_id,
                "conversionAction": f"customers/{customer}/conversionActions/"
                f"{c['conversion_action_id']}",
                "conversionDateTime": r.time.isoformat(sep=" "),
                "conversionValue": _number(r.value),
                "currencyCode": r.currency,
                "orderId": r.event_id,
                "consent": {"adUserData": "GRANTED" if granted else "DENIED"},
            }
            if granted and r.phone_sha256:
                item["userIdentifiers"] = [{"hashedPhoneNumber": r.phone_sha256}]
            conversions_out.append(item)
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
            "developer-token": c["developer_token"],
        }
        if c.get("login_customer_id"):
            headers["login-customer-id"] = c["login_customer_id"]
        url = (
            f"{self.endpoints.google_ads.rstrip('/')}/{version}/customers/{customer}"
            ":uploadClickConversions"
        )
        body = orjson.dumps({"conversions": conversions_out, "partialFailure": True})
        status, answer = await self.post(url, body, headers)
        if status != 200 or not isinstance(answer, dict):
            return {r.call_id: f"google_http_{status}" for r in rows}
        failed: dict[int, str] = {}
        error = answer.get("partialFailureError") or {}
        for detail in error.get("details") or []:
            for e in detail.get("errors") or []:
                path = (e.get("location") or {}).get("fieldPathElements") or []
                index = next(
                    (p.get("index") for p in path if p.get("fieldName") == "conversions"), None
                )
                if isinstance(index, int) and 0 <= index < len(rows):
                    failed[rows[index].call_id] = str(e.get("message", "refused"))[:200]
        return failed


class Meta(_Poster):
    """The Conversions API's ``events`` edge of a pixel (dataset)."""

    async def upload(self, rows: Sequence[UploadRow]) -> dict[int, str]:
        c = self.conf.config
        granted = self.conf.consent_user_data == "GRANTED"
        events = []
        for r in rows:
            user: dict[str, Any] = {"fbc": f"fb.1.{r.click_ms}.{r.click_id}"}
            if granted and r.phone_sha256:
                # Meta hashes the digits with the country code and without '+'.
                user["ph"] = [r.phone_sha256]
            events.append(
                {
                    "event_name": c.get("event_name", "Lead"),
                    "event_time": int(r.time.timestamp()),
                    "action_source": "phone_call",
                    "event_id": r.event_id,
                    "user_data": user,
                    "custom_data": {"value": _number(r.value), "currency": r.currency},
                }
            )
        url = (
            f"{self.endpoints.meta_graph.rstrip('/')}/{c.get('api_version', 'v21.0')}/"
            f"{c['pixel_id']}/events"
        )
        body = orjson.dumps({"data": events, "access_token": self.conf.secret})
        status, answer = await self.post(url, body, {"content-type": "application/json"})
        if (
            status == 200
            and isinstance(answer, dict)
            and answer.get("events_received") == len(rows)
        ):
            return {}
        return {r.call_id: f"meta_http_{status}" for r in rows}


def _meta_phone(caller: str) -> str:
    """Meta's phone hash: SHA-256 of the E.164 digits without '+'."""
    e164 = _e164(caller)
    return hashlib.sha256(e164[1:].encode()).hexdigest() if e164 else ""


def uploader_for(
    upload: UploadConfig,
    client: httpx.AsyncClient,
    policy: outbound.OutboundPolicy,
    endpoints: Endpoints,
) -> Uploader:
    """The uploader of the configuration's kind."""
    if upload.kind == "google_ads":
        return GoogleAds(client, policy, endpoints, upload)
    return Meta(client, policy, endpoints, upload)


def _format_for(action: Action) -> platforms.ConversionFormat:
    """The click ids a platform's API takes, as a file format would list them."""
    platform = platforms.get(action.platform)
    if platform.conversions is not None:
        return platform.conversions
    return platforms.ConversionFormat(columns=tuple((c.param, c.param) for c in platform.click_ids))


async def upload_action(
    db: Store,
    action: Action,
    *,
    now_ms: int,
    endpoints: Endpoints,
    policy: outbound.OutboundPolicy,
    uploads: UploadPolicy | None = None,
    client: httpx.AsyncClient | None = None,
) -> UploadResult:
    """Send the action's calls not sent to its API yet (see the module docstring)."""
    upload = await get_config(db, action.id)
    result = UploadResult()
    if upload is None or not upload.enabled or not action.enabled:
        return result
    uploads = uploads or UploadPolicy()
    fmt = _format_for(action)
    owner = platforms.get(action.platform)
    zone = ZoneInfo(await site_zone(db, action.site_id))
    sql, params = calls_sql(action, fmt)
    sql += (
        " AND c.started_ms >= :start AND c.started_ms < :end AND NOT EXISTS (SELECT 1 FROM"
        " conversion_sent x WHERE x.action_id = :act AND x.destination = :dest"
        " AND x.call_id = c.id) ORDER BY c.started_ms, c.id"
    )
    params.update(
        {
            "start": now_ms - LOOKBACK_DAYS[upload.kind] * _DAY_MS,
            "end": now_ms + 1,
            "act": action.id,
            "dest": DESTINATION,
        }
    )
    rows: list[UploadRow] = []
    batch = conversions.new_batch(now_ms)
    phone = _meta_phone if upload.kind == "meta" else hashed_phone
    skipped: dict[str, int] = {}
    for row in await db.fetchall(sql, params):
        refused = uploads.refusal(row["match_method"], row["match_confidence"])
        click = conversions._click_id(owner, fmt, row)
        if refused is not None or click is None:
            reason = refused or "no_click_id"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        rows.append(
            UploadRow(
                call_id=int(row["id"]),
                click_param=click[0],
                click_id=click[1],
                time=datetime.fromtimestamp(row["started_ms"] / 1000, zone).replace(microsecond=0),
                value=call_value(action, row),
                currency=action.currency,
                phone_sha256=phone(row["caller"]) if upload.consent_user_data == "GRANTED" else "",
                event_id=f"callpath-{action.id}-{int(row['id'])}",
                click_ms=int(row["touch_ms"] or row["started_ms"]),
            )
        )
    result.skipped = skipped
    own_client = client is None
    client = client or outbound.outbound_client()
    try:
        for start in range(0, len(rows), _BATCH):
            chunk = rows[start : start + _BATCH]
            claimed = await _claim(db, action, chunk, batch, now_ms)
            if not claimed:
                continue
            failed = await uploader_for(upload, client, policy, endpoints).upload(claimed)
            for r in claimed:
                if r.call_id in failed:
                    result.failed[r.call_id] = failed[r.call_id]
                else:
                    result.sent.append(r.call_id)
            if failed:
                await _release(db, action, list(failed))
    finally:
        if own_client:
            await client.aclose()
    await db.execute(
        "UPDATE conversion_uploads SET last_run_ms = :t, last_result = :r WHERE action_id = :a",
        {"t": now_ms, "r": orjson.dumps(result.as_json()).decode()[:2000], "a": action.id},
    )
    return result


async def _claim(
    db: Store, action: Action, rows: Sequence[UploadRow], batch: str, now_ms: int
) -> list[UploadRow]:
    """The rows this run claimed (a concurrent run may have taken some)."""
    won: list[UploadRow] = []
    async with db.write() as tx:
        for r in rows:
            got = await tx.fetchval(
                "INSERT INTO conversion_sent (action_id, destination, call_id, click_id,"
                " conversion_ms, value, currency, batch, sent_ms) VALUES (:a, :d, :c, :k, :t,"
                " :v, :cur, :b, :now) ON CONFLICT (action_id, destination, call_id) DO NOTHING"
                " RETURNING call_id",
                {
                    "a": action.id,
                    "d": DESTINATION,
                    "c": r.call_id,
                    "k": r.click_id,
                    "t": int(r.time.timestamp() * 1000),
                    "v": r.value,
                    "cur": r.currency,
                    "b": batch,
                    "now": now_ms,
                },
            )
            if got is not None:
                won.append(r)
    return won


async def _release(db: Store, action: Action, call_ids: list[int]) -> None:
    async with db.write() as tx:
        for call_id in call_ids:
            await tx.execute(
                "DELETE FROM conversion_sent WHERE action_id = :a AND destination = :d"
                " AND call_id = :c",
                {"a": action.id, "d": DESTINATION, "c": call_id},
            )


async def upload_all(
    db: Store,
    *,
    now_ms: int,
    endpoints: Endpoints,
    policy: outbound.OutboundPolicy,
    uploads: UploadPolicy | None = None,
) -> int:
    """One run of every enabled direct upload (the server's periodic job); calls sent."""
    sent = 0
    for row in await db.fetchall(
        "SELECT action_id FROM conversion_uploads WHERE enabled = 1 ORDER BY action_id"
    ):
        action = await get_action(db, int(row["action_id"]), EVERYTHING)
        if action is None:
            continue
        result = await upload_action(
            db, action, now_ms=now_ms, endpoints=endpoints, policy=policy, uploads=uploads
        )
        sent += len(result.sent)
    return sent
