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
- **Yahoo! JAPAN Ads API** (:class:`YahooAds`): ``OfflineConversionService/upload`` of the
  Search Ads API (v20) and of the Display Ads API (v19), which take the same CSV as the
  manual import (Shift_JIS, ``yyyyMMdd HHmmss`` in Asia/Tokyo) as a multipart file and
  process it later: each upload is kept in ``conversion_upload_jobs`` and the next run asks
  ``OfflineConversionService/get`` where it stands (``ERROR``: its calls go again). A
  ``YJAD.`` click is a display ad's and goes to the display account only, never to search.

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
import io
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
from attribution.csvcells import csv_writer
from attribution.errors import FieldError
from attribution.upload_policy import UploadPolicy
from pool.scope import EVERYTHING
from pool.store import Store

KINDS = ("google_ads", "meta", "yahoo_ads")
PLATFORM_OF = {"google_ads": "google", "meta": "meta", "yahoo_ads": "yahoo"}
CONSENT = ("", "GRANTED", "DENIED")
DESTINATION = "api"
# Google Ads takes click conversions up to 90 days after the click; Meta events up to 7
# days old; Yahoo! JAPAN's measurement window is at most 90 days. A run looks back this far
# for calls not sent yet.
LOOKBACK_DAYS = {"google_ads": 90, "meta": 7, "yahoo_ads": 90}
_DAY_MS = 86_400_000
_DIGITS = re.compile(r"[0-9]{1,20}")
_BATCH = 200  # rows per request (Google takes up to 2,000; Meta 1,000)


class UploadConfigError(FieldError):
    """An upload configuration that cannot be stored; ``field`` names the culprit."""


@dataclass(frozen=True)
class Endpoints:
    """The platforms' base URLs (settings: the platforms' own by default)."""

    google_ads: str = "https://googleads.googleapis.com"
    google_token: str = "https://oauth2.googleapis.com/token"
    meta_graph: str = "https://graph.facebook.com"
    # Yahoo! JAPAN Ads API: https://ads-developers.yahoo.co.jp/developercenter/ja/startup-guide/api-call.html
    yahoo_search: str = "https://ads-search.yahooapis.jp"
    yahoo_display: str = "https://ads-display.yahooapis.jp"
    yahoo_token: str = "https://biz-oauth.yahoo.co.jp/oauth/v1/token"

    @classmethod
    def from_settings(cls, settings: Any) -> Endpoints:
        """The base URLs of the server's settings (``backend.settings.Settings``)."""
        return cls(
            settings.google_ads_api_base_url,
            settings.google_oauth_token_url,
            settings.meta_graph_base_url,
            settings.yahoo_ads_search_api_base_url,
            settings.yahoo_ads_display_api_base_url,
            settings.yahoo_oauth_token_url,
        )


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
    # Yahoo!: the Search Ads and Display Ads accounts are separate accounts (either or
    # both); ``base_account_id`` (header x-z-base-account-id) is the account the token's
    # business ID acts through, an MCC account or the ad account itself (the default).
    "yahoo_ads": {
        "search_account_id": True,
        "display_account_id": True,
        "base_account_id": True,
        "client_id": False,
        "client_secret": False,
        "display_conversion_name": False,
        "api_version": False,
        "display_api_version": False,
    },
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
    "yahoo_ads": ("client_id", "client_secret"),
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
    if upload.kind == "yahoo_ads":
        if not clean.keys() & {"search_account_id", "display_account_id"}:
            raise UploadConfigError(
                "config.search_account_id",
                "yahoo_ads needs search_account_id or display_account_id",
            )
        try:
            clean.get("display_conversion_name", "").encode(YAHOO_ENCODING)
        except UnicodeEncodeError:
            raise UploadConfigError(
                "config.display_conversion_name", "display_conversion_name must be Shift_JIS text"
            ) from None
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
    # Files the platform processes later (Yahoo!): network, upload id, status, calls.
    jobs: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The result as the API gives it."""
        out: dict[str, Any] = {
            "sent": len(self.sent),
            "failed": [{"call_id": c, "reason": r} for c, r in sorted(self.failed.items())],
            "skipped": self.skipped,
        }
        if self.jobs:
            out["jobs"] = self.jobs
        return out


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
    """What the platforms' uploaders share: the client, the policy, the configuration, and
    the files a platform took to process later (Yahoo!: upload id and status)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: outbound.OutboundPolicy,
        endpoints: Endpoints,
        upload: UploadConfig,
    ) -> None:
        self.client, self.policy = client, policy
        self.endpoints, self.conf = endpoints, upload
        self.jobs: list[tuple[str, str]] = []

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> tuple[int, Any]:
        """(status, decoded JSON or None); status 0 when nothing answered."""
        try:
            response = await outbound.post(
                self.client, url, self.policy, content=body, headers=headers, method=method
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


# --- Yahoo! JAPAN Ads API ---------------------------------------------------------------
#
# Read from Yahoo!'s OpenAPI specifications (github.com/yahoojp-marketing):
# ads-search-api-documents design/v20/Route.yaml (LINEヤフー広告 検索広告 API v20, commit
# 7f74bad, 2026-07-09) and ads-display-api-documents design/v19/Route.yaml (ディスプレイ広告
# API v19, commit b785376, 2026-02-26), paths ``/OfflineConversionService/upload`` and
# ``/OfflineConversionService/get``:
#
# - ``POST {server}/api/{version}/OfflineConversionService/upload?accountId=…
#   &uploadType=NEW&uploadFileName=…`` (display: no ``uploadType``), header
#   ``x-z-base-account-id`` (required), OAuth bearer token (scope ``yahooads``), body
#   ``multipart/form-data`` with the file as part ``file`` (at most 20,971,520 bytes);
#   answer ``{errors, rid, rval: {values: [{errors, operationSucceeded, offlineConversion:
#   {accountId, uploadId, uploadFileName, uploadType, uploadedDate, uploadSourceType,
#   processStatus}}]}}``, processStatus PROCESSING, DONE, DONE_WITH_ERROR, ERROR, UNKNOWN.
# - ``POST …/OfflineConversionService/get`` with JSON ``{accountId, uploadIds}`` (display:
#   at most 200 ids, search 1,000): the same values, to follow an upload.
# - The token: ``GET https://biz-oauth.yahoo.co.jp/oauth/v1/token?grant_type=refresh_token
#   &client_id=…&client_secret=…&refresh_token=…`` (startup guide "APIコールを実施する").
#
# The file's columns are those of the manual import, the registry's Yahoo! format
# (attribution.platforms; help: ads-help.yahoo.co.jp article 50455 「コンバージョンデータを
# インポートする」, the API's pointer: ads-help.yahoo-net.jp H000044354 for search,
# H000047362 for display).
YAHOO_SEARCH_VERSION = "v20"
YAHOO_DISPLAY_VERSION = "v19"
YAHOO_ENCODING = "cp932"
YAHOO_MAX_FILE = 20_971_520
# The display template has no 通貨コード column (not checked against Yahoo!'s help
# H000047362, which could not be read here: see docs/exports.md).
YAHOO_DISPLAY_HEADER = (
    "YCLID",
    "コンバージョン名",
    "コンバージョン発生日時",
    "1コンバージョンあたりの価値",
)
YAHOO_FINAL = ("DONE", "DONE_WITH_ERROR", "ERROR")
# A click is imported 24 hours after it at the earliest (not in what we could read of
# Yahoo!'s help; an integrator's guide, blog.affilicode.jp/article/20186, says so). A row
# refused for it would be lost in a file "done with errors", so a call waits until its
# click is that old, counted in ``skipped`` meanwhile and sent by a later run.
YAHOO_CLICK_AGE_MS = 86_400_000
_YAHOO_IDS_PER_GET = 200


def _yahoo_errors(answer: Any) -> str:
    """Yahoo!'s errors of an answer (``code message``, '' when none)."""
    found: list[Any] = []
    if isinstance(answer, dict):
        found += answer.get("errors") or []
        rval = answer.get("rval") or {}
        for value in rval.get("values") or [] if isinstance(rval, dict) else []:
            if isinstance(value, dict):
                found += value.get("errors") or []
    return "; ".join(
        f"{e.get('code', '')} {e.get('message', '')}".strip() for e in found if isinstance(e, dict)
    )[:200]


class YahooAds(_Poster):
    """``OfflineConversionService`` of the Yahoo! JAPAN Search Ads or Display Ads API: its
    ``network`` (``search`` or ``display``), the conversion ``name`` its files carry and the
    file's name (set by :func:`_yahoo`)."""

    network = "search"
    name = ""
    filename = "callpath.csv"

    @property
    def display(self) -> bool:
        return self.network == "display"

    @property
    def account(self) -> str:
        return self.conf.config.get(f"{self.network}_account_id", "")

    def _url(self, operation: str) -> str:
        c = self.conf.config
        if self.display:
            base, version = (
                self.endpoints.yahoo_display,
                c.get("display_api_version", YAHOO_DISPLAY_VERSION),
            )
        else:
            base, version = self.endpoints.yahoo_search, c.get("api_version", YAHOO_SEARCH_VERSION)
        return f"{base.rstrip('/')}/api/{version}/OfflineConversionService/{operation}"

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "authorization": f"Bearer {token}",
            "x-z-base-account-id": self.conf.config.get("base_account_id") or self.account,
        }

    async def _token(self) -> str | None:
        c = self.conf.config
        query = httpx.QueryParams(
            {
                "grant_type": "refresh_token",
                "client_id": c["client_id"],
                "client_secret": c["client_secret"],
                "refresh_token": self.conf.secret,
            }
        )
        status, body = await self.post(f"{self.endpoints.yahoo_token}?{query}", b"", {}, "GET")
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            return None
        return str(body["access_token"])

    def file(self, rows: Sequence[UploadRow]) -> bytes:
        """The import file of ``rows``: the manual template's columns, times in Tokyo."""
        tokyo = ZoneInfo(conversions.YAHOO_ZONE)
        fmt = platforms.YAHOO.conversions
        assert fmt is not None
        if not self.display:
            cells = [
                {
                    "kind": r.click_param,
                    "click": r.click_id,
                    "name": self.name,
                    "time": r.time.astimezone(tokyo),
                    "value": r.value,
                    "currency": r.currency,
                }
                for r in rows
            ]
            return conversions._render(fmt, cells, "")
        out = io.StringIO()
        w = csv_writer(out)
        w.writerow(list(YAHOO_DISPLAY_HEADER))
        for r in rows:
            when = r.time.astimezone(tokyo).strftime(fmt.time_format)
            w.writerow([r.click_id, self.name, when, r.value])
        return out.getvalue().encode(YAHOO_ENCODING)

    async def upload(self, rows: Sequence[UploadRow]) -> dict[int, str]:
        try:
            content = self.file(rows)
        except UnicodeEncodeError:
            return {r.call_id: "not_shift_jis" for r in rows}
        if len(content) > YAHOO_MAX_FILE:
            return {r.call_id: "yahoo_file_too_large" for r in rows}
        token = await self._token()
        if token is None:
            return {r.call_id: "yahoo_oauth_refused" for r in rows}
        params: dict[str, str] = {"accountId": self.account}
        if not self.display:
            params["uploadType"] = "NEW"
        params["uploadFileName"] = self.filename
        form = httpx.Request(
            "POST", "http://form.invalid/", files={"file": (self.filename, content, "text/csv")}
        )
        body = form.read()
        headers = {**self._headers(token), "content-type": form.headers["content-type"]}
        url = f"{self._url('upload')}?{httpx.QueryParams(params)}"
        status, answer = await self.post(url, body, headers)
        errors = _yahoo_errors(answer)
        rval = answer.get("rval") if isinstance(answer, dict) else None
        values = (rval.get("values") if isinstance(rval, dict) else None) or []
        done = values[0] if values and isinstance(values[0], dict) else {}
        job = done.get("offlineConversion") or {}
        if status != 200 or errors or not done.get("operationSucceeded") or not job.get("uploadId"):
            reason = f"yahoo_http_{status}" + (f": {errors}" if errors else "")
            return {r.call_id: reason for r in rows}
        self.jobs.append((str(job["uploadId"]), str(job.get("processStatus") or "PROCESSING")))
        return {}

    async def statuses(self, upload_ids: Sequence[str]) -> dict[str, str]:
        """Where Yahoo! stands with each upload (ids it did not answer for are left out)."""
        token = await self._token()
        if token is None:
            return {}
        found: dict[str, str] = {}
        for start in range(0, len(upload_ids), _YAHOO_IDS_PER_GET):
            chunk = upload_ids[start : start + _YAHOO_IDS_PER_GET]
            body = orjson.dumps(
                {"accountId": int(self.account), "uploadIds": [int(u) for u in chunk]}
            )
            headers = {**self._headers(token), "content-type": "application/json"}
            status, answer = await self.post(self._url("get"), body, headers)
            if status != 200 or not isinstance(answer, dict):
                continue
            for value in (answer.get("rval") or {}).get("values") or []:
                job = (value or {}).get("offlineConversion") or {}
                if job.get("uploadId") is not None and job.get("processStatus"):
                    found[str(job["uploadId"])] = str(job["processStatus"])
        return found


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
    """The uploader of the configuration's kind (Yahoo!: its search network's, unnamed;
    :func:`upload_action` makes its own per network)."""
    if upload.kind == "google_ads":
        return GoogleAds(client, policy, endpoints, upload)
    if upload.kind == "yahoo_ads":
        return YahooAds(client, policy, endpoints, upload)
    return Meta(client, policy, endpoints, upload)


def _format_for(action: Action) -> platforms.ConversionFormat:
    """The click ids a platform's API takes, as a file format would list them."""
    platform = platforms.get(action.platform)
    if platform.conversions is not None:
        return platform.conversions
    return platforms.ConversionFormat(columns=tuple((c.param, c.param) for c in platform.click_ids))


def _networks(upload: UploadConfig) -> list[str]:
    """Where an upload's calls go: '' (the platform's one API) or Yahoo!'s networks with an
    account (``display`` takes the ``YJAD.`` clicks, ``search`` every other yclid)."""
    if upload.kind != "yahoo_ads":
        return [""]
    return [n for n in ("search", "display") if upload.config.get(f"{n}_account_id")]


async def _rows(
    db: Store,
    action: Action,
    upload: UploadConfig,
    *,
    display: bool,
    now_ms: int,
    uploads: UploadPolicy,
    skipped: dict[str, int],
) -> list[UploadRow]:
    """The action's calls not sent to its API yet (``display``: those with a display ad's
    click instead); the ones left out are counted in ``skipped`` by reason."""
    fmt = _format_for(action)
    owner = platforms.get(action.platform)
    zone = ZoneInfo(await site_zone(db, action.site_id))
    sql, params = calls_sql(action, fmt, display=display)
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
    phone = _meta_phone if upload.kind == "meta" else hashed_phone
    for row in await db.fetchall(sql, params):
        refused = uploads.refusal(row["match_method"], row["match_confidence"])
        click = conversions._click_id(owner, fmt, row, display=display)
        click_ms = int(row["touch_ms"] or row["started_ms"])
        if upload.kind == "yahoo_ads" and click_ms > now_ms - YAHOO_CLICK_AGE_MS:
            refused = refused or "click_under_24h"
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
                click_ms=click_ms,
            )
        )
    return rows


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
    own_client = client is None
    client = client or outbound.outbound_client()
    try:
        for network in _networks(upload):
            if network:
                yahoo = _yahoo(action, upload, client, policy, endpoints, network, "")
                result.jobs += await _follow_jobs(db, action, yahoo, now_ms)
            rows = await _rows(
                db,
                action,
                upload,
                display=network == "display",
                now_ms=now_ms,
                uploads=uploads,
                skipped=result.skipped,
            )
            for start in range(0, len(rows), _BATCH):
                batch = conversions.new_batch(now_ms)
                claimed = await _claim(db, action, rows[start : start + _BATCH], batch, now_ms)
                if not claimed:
                    continue
                if network:
                    uploader: Uploader = _yahoo(
                        action, upload, client, policy, endpoints, network, batch
                    )
                else:
                    uploader = uploader_for(upload, client, policy, endpoints)
                failed = await uploader.upload(claimed)
                for r in claimed:
                    if r.call_id in failed:
                        result.failed[r.call_id] = failed[r.call_id]
                    else:
                        result.sent.append(r.call_id)
                if failed:
                    await _release(db, action, list(failed))
                if isinstance(uploader, YahooAds):
                    for upload_id, status in uploader.jobs:
                        result.jobs.append(
                            await _record_job(
                                db, action, uploader, upload_id, status, batch, len(claimed), now_ms
                            )
                        )
    finally:
        if own_client:
            await client.aclose()
    result.skipped = dict(sorted(result.skipped.items()))
    await db.execute(
        "UPDATE conversion_uploads SET last_run_ms = :t, last_result = :r WHERE action_id = :a",
        {"t": now_ms, "r": orjson.dumps(result.as_json()).decode()[:2000], "a": action.id},
    )
    return result


def _yahoo(
    action: Action,
    upload: UploadConfig,
    client: httpx.AsyncClient,
    policy: outbound.OutboundPolicy,
    endpoints: Endpoints,
    network: str,
    batch: str,
) -> YahooAds:
    """Yahoo!'s uploader for ``network``: the file names the action's conversion (display:
    ``display_conversion_name`` when set) and is called after the batch."""
    yahoo = YahooAds(client, policy, endpoints, upload)
    yahoo.network, yahoo.name = network, action.name
    if network == "display":
        yahoo.name = upload.config.get("display_conversion_name") or action.name
    yahoo.filename = f"callpath-{action.id}-{network}-{batch}.csv"
    return yahoo


async def _record_job(
    db: Store,
    action: Action,
    yahoo: YahooAds,
    upload_id: str,
    status: str,
    batch: str,
    calls: int,
    now_ms: int,
) -> dict[str, Any]:
    """Keep a file Yahoo! accepted, to follow it on the next runs; as the result lists it."""
    await db.execute(
        "INSERT INTO conversion_upload_jobs (action_id, network, account_id, upload_id, batch,"
        " calls, status, submitted_ms) VALUES (:a, :n, :acc, :u, :b, :c, :s, :t)",
        {
            "a": action.id,
            "n": yahoo.network,
            "acc": yahoo.account,
            "u": upload_id,
            "b": batch,
            "c": calls,
            "s": status,
            "t": now_ms,
        },
    )
    return {"network": yahoo.network, "upload_id": upload_id, "status": status, "calls": calls}


async def _follow_jobs(
    db: Store, action: Action, yahoo: YahooAds, now_ms: int
) -> list[dict[str, Any]]:
    """Ask Yahoo! where the network's unfinished uploads stand and record it. An upload
    that ended in ``ERROR`` releases its calls, so this run sends them again;
    ``DONE_WITH_ERROR`` keeps them (Yahoo! refused some rows of the file, which ones its
    error file in the campaign management tool says)."""
    final = ", ".join(f"'{s}'" for s in YAHOO_FINAL)
    open_jobs = await db.fetchall(
        "SELECT id, upload_id, batch, calls FROM conversion_upload_jobs WHERE action_id = :a"
        f" AND network = :n AND account_id = :acc AND status NOT IN ({final}) ORDER BY id",
        {"a": action.id, "n": yahoo.network, "acc": yahoo.account},
    )
    if not open_jobs:
        return []
    found = await yahoo.statuses([str(j["upload_id"]) for j in open_jobs])
    followed: list[dict[str, Any]] = []
    for job in open_jobs:
        status = found.get(str(job["upload_id"]))
        if status is None:
            continue
        async with db.write() as tx:
            await tx.execute(
                "UPDATE conversion_upload_jobs SET status = :s, checked_ms = :t WHERE id = :id",
                {"s": status, "t": now_ms, "id": job["id"]},
            )
            if status == "ERROR":
                await tx.execute(
                    "DELETE FROM conversion_sent WHERE action_id = :a AND destination = :d"
                    " AND batch = :b",
                    {"a": action.id, "d": DESTINATION, "b": job["batch"]},
                )
        followed.append(
            {
                "network": yahoo.network,
                "upload_id": str(job["upload_id"]),
                "status": status,
                "calls": int(job["calls"]),
            }
        )
    return followed


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
