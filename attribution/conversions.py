"""Calls fed back to the ad platforms: offline click-conversion files and GA4 events.

A call becomes a conversion on a platform when the touch frozen on the call when it was
matched (``attribution.touch``; never a later touch of its session) carries that platform's
click id (Google: gclid, gbraid or wbraid; Yahoo! JAPAN search ads: a yclid that is not a
display ad's ``YJAD.`` one; Microsoft: msclkid; GA4: the session's ``_ga`` client id). The
platforms, their click ids and file formats are the registry's (``attribution.platforms``):
a platform it does not hold is refused, never written in another platform's format. A
touch recorded after the call started did not lead to it and is never sent. Each
(platform, call) is written to ``conversion_ledger`` in the same unit of work that builds
the file, so exporting the same period again yields an empty file: a conversion is never
sent twice.

File formats:

- Google Ads: ``Parameters:TimeZone=+0900`` row, then ``Google Click ID,Conversion Name,
  Conversion Time,Conversion Value,Conversion Currency`` (``GBRAID``/``WBRAID`` columns are
  added when a row's click id is one of those), time as ``yyyy-MM-dd HH:mm:ss``. UTF-8.
- Microsoft Advertising: the same shape with ``Microsoft Click ID``. UTF-8.
- Yahoo! JAPAN search ads: ``YCLID,コンバージョン名,コンバージョン発生日時,
  1コンバージョンあたりの価値,通貨コード``, time as ``yyyyMMdd HHmmss`` in Asia/Tokyo,
  encoded in Shift_JIS (cp932), the encoding of Yahoo!'s own upload template.
"""

from __future__ import annotations

import io
import re
import secrets
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson

from attribution import batches, outbound, platforms
from attribution.csvcells import FORMULA_START, csv_writer
from attribution.ga_session import ga_session_for
from attribution.platforms import CLICK_ID_COLUMNS
from attribution.sources import url_click_ids, valid_click_id
from attribution.upload_policy import UploadPolicy
from pool.scope import Scope
from pool.store import Store

# The registry's platforms with a file, and those with settings (GA4 too), read at each use.
FILE_PLATFORMS = platforms.Live(platforms.file_platforms)
PLATFORMS = platforms.Live(lambda: (*platforms.file_platforms(), "ga4"))
YAHOO_ENCODING = platforms.YAHOO.conversions.encoding if platforms.YAHOO.conversions else ""
YAHOO_ZONE = "Asia/Tokyo"
GA4_MAX_AGE_MS = 72 * 3600 * 1000  # GA4 drops events stamped more than 72 hours back
GA4_MAX_PARAM_VALUE = 100  # GA4 keeps at most 100 characters of a parameter value
CONSENT_VALUES = ("", "GRANTED", "DENIED")  # '': the field is not sent

_GA4_SQL = "s.ga_client_id <> ''"
# A touch recorded after the call started cannot have led to it (touch_ms NULL: unknown).
_TOUCH_BEFORE_CALL = "(c.touch_ms IS NULL OR c.touch_ms <= c.started_ms)"
_CURRENCY = re.compile(r"[A-Z]{3}")
# The value pattern documented (and declared in the API): plain ASCII digits, an optional
# fraction. Decimal() alone also takes "1e3", " 5", "1_000" and full-width digits.
VALUE_PATTERN = r"[0-9]{1,13}(\.[0-9]{1,6})?"
_VALUE = re.compile(VALUE_PATTERN)


@dataclass(frozen=True)
class ConversionSettings:
    """How a site's calls appear on one platform."""

    conversion_name: str = "Phone call"
    value: str = "0"
    currency: str = "JPY"
    qualified_only: bool = True
    enabled: bool = True


def check_settings(platform: str, s: ConversionSettings) -> ConversionSettings:
    """Validated (and normalised) settings, or ValueError saying what is wrong."""
    if platform not in PLATFORMS:
        raise platforms.UnknownPlatform(f"platform must be one of {PLATFORMS}")
    name = s.conversion_name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("conversion_name must be 1 to 100 characters")
    if name[0] in FORMULA_START:
        # It must match the platform's conversion action exactly, and the file would have
        # to carry it escaped ('=…) to keep spreadsheets from running it.
        raise ValueError("conversion_name must not start with = + - @")
    fmt = platforms.get(platform).conversions if platform != "ga4" else None
    if fmt is not None and fmt.narrow:
        try:
            name.encode(fmt.encoding)
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"conversion_name has characters {fmt.encoding_name} cannot encode"
            ) from exc
    if not isinstance(s.value, str) or not _VALUE.fullmatch(s.value):
        raise ValueError("value must be a decimal number such as 5000 or 1200.50")
    try:
        value = Decimal(s.value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError("value must be a decimal number") from exc
    if not value.is_finite() or value < 0 or value > Decimal("1e12"):
        raise ValueError("value must be between 0 and 10^12")
    if not _CURRENCY.fullmatch(s.currency):
        raise ValueError("currency must be an ISO 4217 code such as JPY")
    return ConversionSettings(name, _plain(value), s.currency, s.qualified_only, s.enabled)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


async def get_settings(db: Store, *, site_id: int, platform: str) -> ConversionSettings:
    """The site's settings for a platform (the defaults when none are stored)."""
    row = await db.fetchone(
        "SELECT conversion_name, value, currency, qualified_only, enabled"
        " FROM conversion_settings WHERE site_id = :s AND platform = :p",
        {"s": site_id, "p": platform},
    )
    if row is None:
        return ConversionSettings()
    return ConversionSettings(
        row["conversion_name"],
        row["value"],
        row["currency"],
        bool(row["qualified_only"]),
        bool(row["enabled"]),
    )


async def put_settings(
    db: Store, *, site_id: int, platform: str, settings: ConversionSettings, now_ms: int
) -> ConversionSettings:
    """Store a site's settings for a platform (validated first)."""
    s = check_settings(platform, settings)
    await db.execute(
        "INSERT INTO conversion_settings (site_id, platform, conversion_name, value, currency,"
        " qualified_only, enabled, updated_ms) VALUES (:s, :p, :n, :v, :c, :q, :e, :t)"
        " ON CONFLICT (site_id, platform) DO UPDATE SET conversion_name = :n, value = :v,"
        " currency = :c, qualified_only = :q, enabled = :e, updated_ms = :t",
        {
            "s": site_id,
            "p": platform,
            "n": s.conversion_name,
            "v": s.value,
            "c": s.currency,
            "q": int(s.qualified_only),
            "e": int(s.enabled),
            "t": now_ms,
        },
    )
    return s


@dataclass(frozen=True)
class ConversionFile:
    """One upload file and what it holds."""

    platform: str
    batch: str
    filename: str
    media_type: str
    content: bytes
    count: int
    # Calls left out of the file, by reason (``click_id_invalid``: a click id stored
    # before click ids were validated, in a shape no platform issues; ``not_shift_jis``:
    # a Yahoo! row Shift_JIS cannot encode). Not recorded: every export reports them.
    skipped: dict[str, int] = field(default_factory=dict)
    # The id of the batch kept in conversion_batches (None: a preview, or nothing written).
    batch_id: int | None = None


def _zone_param(tz: str) -> tuple[Any, str]:
    """The zone times are written in and the ``Parameters:TimeZone`` value for it.

    A zone with one offset all year (Asia/Tokyo) is written as that offset (``+0900``);
    a zone with daylight saving would make one offset wrong for half the year, so its
    times are written in UTC (``+0000``) instead.
    """
    zone = ZoneInfo(tz)
    year = datetime.now(UTC).year
    offsets = {datetime(year, m, 1, tzinfo=zone).utcoffset() for m in (1, 7)}
    if len(offsets) != 1:
        return UTC, "+0000"
    return zone, datetime(year, 1, 1, tzinfo=zone).strftime("%z")


def new_batch(now_ms: int) -> str:
    """A batch name: when it was made, plus a random tail."""
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


async def export_conversions(
    db: Store,
    *,
    platform: str,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    site_id: int | None = None,
    advertiser_id: int | None = None,
    timezone: str = YAHOO_ZONE,
    record: bool = True,
    created_by: str = "",
    policy: UploadPolicy | None = None,
) -> ConversionFile:
    """Build the platform's upload file for calls started in [start_ms, end_ms).

    Calls already in the ledger for this platform are left out; with ``record`` (the
    default) the calls written are added to it in the same unit of work, so a second
    export of the same period is empty. ``record=False`` previews without recording.
    A recorded file with rows is kept whole in ``conversion_batches`` (``attribution.batches``)
    in the same unit of work, with ``created_by`` (who asked for it).
    ``policy`` says which matches may go (default: one visit, any confidence); calls it
    refuses are counted in ``skipped`` and stay out of the ledger, so a later export with a
    wider policy can still send them.
    """
    policy = policy or UploadPolicy()
    if platform not in FILE_PLATFORMS:
        raise platforms.UnknownPlatform(f"platform must be one of {FILE_PLATFORMS}")
    owner = platforms.get(platform)
    fmt = platforms.file_format(platform)
    zone, offset = _zone_param(fmt.zone or timezone)
    batch = new_batch(now_ms)
    has_click, params = _click_sql(owner, fmt)
    clauses = [
        "c.started_ms >= :start",
        "c.started_ms < :end",
        has_click,
        _TOUCH_BEFORE_CALL,
        "NOT EXISTS (SELECT 1 FROM conversion_ledger l WHERE l.platform = :p AND l.call_id = c.id)",
    ]
    params.update({"start": start_ms, "end": end_ms, "p": platform})
    within = Scope.of(advertiser_id, site_id)
    if not within.is_everything:
        where, scope_params = within.call_condition("c")
        clauses.append(where)
        params.update(scope_params)
    sql = (
        "SELECT c.id, c.started_ms, c.qualified, c.touch_landing_url AS landing_url,"
        " c.match_method, c.match_confidence, "
        + "".join(f"c.touch_{col} AS {col}, " for col in CLICK_ID_COLUMNS)
        + "cs.conversion_name, cs.value, cs.currency, cs.qualified_only, cs.enabled FROM calls c"
        " LEFT JOIN conversion_settings cs ON cs.site_id = c.site_id AND cs.platform = :p"
        " WHERE " + " AND ".join(clauses) + " ORDER BY c.started_ms, c.id"
    )
    default = ConversionSettings()
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    async with db.write() as tx:
        for row in await tx.fetchall(sql, params):
            named = row["conversion_name"] is not None
            if named and not row["enabled"]:
                continue
            qualified_only = bool(row["qualified_only"]) if named else default.qualified_only
            if qualified_only and not row["qualified"]:
                continue
            refused = policy.refusal(row["match_method"], row["match_confidence"])
            if refused is not None:
                skipped[refused] += 1
                continue
            click = _click_id(owner, fmt, row)
            if click is None:
                continue  # a landing URL that only looked like it had the click id
            out = {
                "call_id": int(row["id"]),
                "kind": click[0],
                "click": click[1],
                "name": row["conversion_name"] if named else default.conversion_name,
                "value": row["value"] if named else default.value,
                "currency": row["currency"] if named else default.currency,
                "time": datetime.fromtimestamp(row["started_ms"] / 1000, zone),
            }
            reason = _unfit(fmt, out)
            if reason is not None:
                skipped[reason] += 1
                continue
            if record:
                won = await tx.fetchval(
                    "INSERT INTO conversion_ledger (platform, call_id, click_id, batch,"
                    " exported_ms) VALUES (:p, :c, :k, :b, :t)"
                    " ON CONFLICT (platform, call_id) DO NOTHING RETURNING call_id",
                    {"p": platform, "c": row["id"], "k": click[1], "b": batch, "t": now_ms},
                )
                if won is None:
                    continue
            rows.append(out)
        content = _render(fmt, rows, offset)
        filename = fmt.filename.format(platform=platform, batch=batch)
        media = fmt.media_type
        batch_id = None
        if record and rows:
            scope = advertiser_id
            if scope is None and site_id is not None:
                scope = await tx.fetchval(
                    "SELECT advertiser_id FROM sites WHERE id = :s", {"s": site_id}
                )
            batch_id = await batches.record_batch(
                tx,
                platform=platform,
                batch=batch,
                rows=[(r["call_id"], r["click"]) for r in rows],
                filename=filename,
                media_type=media,
                content=content,
                advertiser_id=scope,
                site_id=site_id,
                start_ms=start_ms,
                end_ms=end_ms,
                created_by=created_by,
                now_ms=now_ms,
            )
    return ConversionFile(
        platform,
        batch,
        filename,
        media,
        content,
        len(rows),
        dict(sorted(skipped.items())),
        batch_id,
    )


def _click_sql(
    platform: platforms.Platform, fmt: platforms.ConversionFormat, *, display: bool = False
) -> tuple[str, dict[str, Any]]:
    """The condition (on calls ``c``) that the frozen touch carries one of the click ids the
    file takes, not a display click's (``display``: only a display click's, for the
    platform's display upload); and its parameters.

    A click id without a column is looked for in the frozen landing URL: a first sift,
    :func:`_click_id` reads the value.
    """
    alternatives: list[str] = []
    params: dict[str, Any] = {}
    for i, param in enumerate(fmt.click_params):
        click = platform.click_id(param)
        if display and not (click.column and click.display_prefixes):
            continue
        if not click.column:
            params[f"cl{i}"] = f"%{param}=%"
            alternatives.append(f"lower(c.touch_landing_url) LIKE :cl{i}")
            continue
        column = f"c.touch_{click.column}"
        prefixes = []
        for j, prefix in enumerate(click.display_prefixes):
            # Display clicks have their own upload, never the search ads file.
            params[f"dp{i}_{j}"] = prefix.upper() + "%"
            prefixes.append(f"upper({column}) LIKE :dp{i}_{j}")
        if display:
            alternatives.append(" OR ".join(prefixes))
        else:
            alternatives.append(" AND ".join([f"{column} <> ''", *(f"NOT {p}" for p in prefixes)]))
    if not alternatives:
        return "(1 = 0)", params
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def _unfit(fmt: platforms.ConversionFormat, row: dict[str, Any]) -> str | None:
    """Why a row cannot go into the platform's file (None: it can).

    Click ids are validated when a visit is recorded; a row stored before that, or put in
    the database some other way, is left out of the file rather than written as is (it
    could be a formula in a spreadsheet) or failing the whole export (Shift_JIS).
    """
    if not valid_click_id(row["click"]):
        return "click_id_invalid"
    if fmt.narrow:
        text = "".join(str(row[k]) for k in ("name", "value", "currency"))
        try:
            text.encode(fmt.encoding)
        except UnicodeEncodeError:
            return f"not_{fmt.charset}"
    return None


def _click_id(
    platform: platforms.Platform,
    fmt: platforms.ConversionFormat,
    row: dict[str, Any],
    *,
    display: bool = False,
) -> tuple[str, str] | None:
    """(click id, value): the first click id of the file's the touch carries (None: none);
    ``display``: the first display click id instead."""
    from_url = url_click_ids(str(row["landing_url"] or ""), platforms.unstored_click_ids())
    for param in fmt.click_params:
        click = platform.click_id(param)
        value = str(row[click.column] or "") if click.column else from_url.get(param, "")
        if value and click.is_display(value) == display:
            return param, value
    return None


def _render(fmt: platforms.ConversionFormat, rows: list[dict[str, Any]], offset: str) -> bytes:
    out = io.StringIO()
    # Every text cell escaped (attribution/csvcells.py). Valid click ids, times, checked
    # names, values and currencies never need it; a row stored past the checks does.
    w = csv_writer(out)
    if fmt.timezone_row:
        w.writerow([fmt.timezone_row.format(offset=offset)])
    (first, first_header), *more = fmt.columns
    # The other click-id columns (Google's GBRAID, WBRAID) only when a row needs them.
    if not any(r["kind"] != first for r in rows):
        more = []
    kinds = [first, *(param for param, _ in more)]
    w.writerow([first_header, *(header for _, header in more), *fmt.tail])
    for r in rows:
        ids = [r["click"] if r["kind"] == kind else "" for kind in kinds]
        when = r["time"].strftime(fmt.time_format)
        w.writerow([*ids, r["name"], when, r["value"], r["currency"]])
    return out.getvalue().encode(fmt.encoding)


YAHOO_HEADER = (
    [platforms.YAHOO.conversions.columns[0][1], *platforms.YAHOO.conversions.tail]
    if platforms.YAHOO.conversions
    else []
)


# --- GA4 Measurement Protocol ---------------------------------------------------------

GA4_ENDPOINT = "https://www.google-analytics.com/mp/collect"


@dataclass(frozen=True)
class GA4Settings:
    """Where a site's call events go in GA4."""

    measurement_id: str
    api_secret: str
    endpoint_url: str = GA4_ENDPOINT
    event_name: str = "phone_call"
    enabled: bool = True
    # The Measurement Protocol's consent object, as the site's consent setup says: each
    # 'GRANTED', 'DENIED', or '' to leave it out (Google then applies the property's own).
    consent_ad_user_data: str = ""
    consent_ad_personalization: str = ""


def ga4_endpoint_allowed(endpoint: str, policy: outbound.OutboundPolicy | None = None) -> bool:
    """Whether GA4 events may be sent there.

    Google's collection hosts over https (the EU endpoint is ``region1.google-analytics.com``),
    or a receiver the operator named in ``CALLPATH_OUTBOUND_ALLOW_HOSTS`` (a relay, a test
    receiver): any other host would let whoever edits the settings make this server send
    requests into its own network. Where the name points is checked again at each send.
    """
    policy = policy or outbound.OutboundPolicy()
    if len(endpoint) > 500:
        return False
    try:
        url = outbound.parse_url(endpoint)
    except outbound.Refused:
        return False
    if url.query or url.fragment:
        return False
    if policy.allows(url.host):
        return True
    host = url.host.lower()
    google = host == "google-analytics.com" or host.endswith(".google-analytics.com")
    return url.scheme == "https" and google


def check_ga4(s: GA4Settings, policy: outbound.OutboundPolicy | None = None) -> GA4Settings:
    """Validated GA4 settings, or ValueError."""
    if not re.fullmatch(r"G-[A-Z0-9]{4,20}", s.measurement_id):
        raise ValueError("measurement_id must look like G-XXXXXXX")
    if not re.fullmatch(r"[A-Za-z0-9_\-]{8,100}", s.api_secret):
        raise ValueError("api_secret must be 8 to 100 letters, digits, '-' or '_'")
    if not ga4_endpoint_allowed(s.endpoint_url, policy):
        raise ValueError(
            "endpoint_url must be https on *.google-analytics.com, or a host named in"
            " CALLPATH_OUTBOUND_ALLOW_HOSTS"
        )
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", s.event_name):
        raise ValueError("event_name must be a GA4 event name (letters, digits, '_')")
    for name in ("consent_ad_user_data", "consent_ad_personalization"):
        if getattr(s, name) not in CONSENT_VALUES:
            raise ValueError(f"{name} must be GRANTED, DENIED or empty")
    return s


async def get_ga4(db: Store, *, site_id: int) -> GA4Settings | None:
    """A site's GA4 settings, or None when it has none."""
    row = await db.fetchone(
        "SELECT measurement_id, api_secret, endpoint_url, event_name, enabled,"
        " consent_ad_user_data, consent_ad_personalization FROM ga4_settings WHERE site_id = :s",
        {"s": site_id},
    )
    if row is None:
        return None
    return GA4Settings(
        row["measurement_id"],
        row["api_secret"],
        row["endpoint_url"],
        row["event_name"],
        bool(row["enabled"]),
        row["consent_ad_user_data"],
        row["consent_ad_personalization"],
    )


async def put_ga4(
    db: Store,
    *,
    site_id: int,
    settings: GA4Settings,
    now_ms: int,
    policy: outbound.OutboundPolicy | None = None,
) -> GA4Settings:
    """Store a site's GA4 settings (validated first)."""
    s = check_ga4(settings, policy)
    await db.execute(
        "INSERT INTO ga4_settings (site_id, measurement_id, api_secret, endpoint_url,"
        " event_name, enabled, consent_ad_user_data, consent_ad_personalization, updated_ms)"
        " VALUES (:s, :m, :a, :u, :e, :en, :cu, :cp, :t)"
        " ON CONFLICT (site_id) DO UPDATE SET measurement_id = :m, api_secret = :a,"
        " endpoint_url = :u, event_name = :e, enabled = :en, consent_ad_user_data = :cu,"
        " consent_ad_personalization = :cp, updated_ms = :t",
        {
            "s": site_id,
            "m": s.measurement_id,
            "a": s.api_secret,
            "u": s.endpoint_url,
            "e": s.event_name,
            "en": int(s.enabled),
            "cu": s.consent_ad_user_data,
            "cp": s.consent_ad_personalization,
            "t": now_ms,
        },
    )
    return s


def ga_client_id(raw: str) -> str:
    """The GA client id in a ``_ga`` cookie value (``GA1.1.123.456`` → ``123.456``)."""
    m = re.fullmatch(r"(?:GA\d+\.\d+\.)?(\d{1,20}\.\d{1,20})", raw.strip())
    return m.group(1) if m else ""


Sender = Callable[[str, bytes], Awaitable[int]]


def _sender(client: httpx.AsyncClient, policy: outbound.OutboundPolicy) -> Sender:
    """POST through ``attribution.outbound``: the checked address, no redirects (a 3xx
    counts as a failure). 0 when nothing was answered or the destination is refused."""

    async def send(url: str, body: bytes) -> int:
        headers = {"content-type": "application/json", "user-agent": "callpath-ga4/1"}
        try:
            response = await outbound.post(client, url, policy, content=body, headers=headers)
        except (outbound.Refused, outbound.Unreachable, httpx.HTTPError):
            return 0
        return response.status_code

    return send


@dataclass(frozen=True)
class GA4Result:
    """What a GA4 push did."""

    sent: int
    failed: int
    skipped: int


async def push_ga4(
    db: Store,
    *,
    site_id: int,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    send: Sender | None = None,
    policy: outbound.OutboundPolicy | None = None,
    uploads: UploadPolicy | None = None,
) -> GA4Result:
    """Send one event per not-yet-sent call of the site that has a GA client id.

    Each call is claimed in the ledger before it is sent and the claim is dropped when the
    send fails, so a call is sent at most once even when two pushes overlap, and a failed
    one is tried again by the next push. Calls older than GA4's 72-hour window are skipped,
    and so are calls ``uploads`` refuses (default: shared or no single visit).
    """
    uploads = uploads or UploadPolicy()
    settings = await get_ga4(db, site_id=site_id)
    if settings is None or not settings.enabled:
        return GA4Result(0, 0, 0)
    policy = policy or outbound.OutboundPolicy()
    if send is not None:
        return await _push(db, settings, site_id, start_ms, end_ms, now_ms, send, policy, uploads)
    async with outbound.outbound_client() as client:
        return await _push(
            db,
            settings,
            site_id,
            start_ms,
            end_ms,
            now_ms,
            _sender(client, policy),
            policy,
            uploads,
        )


async def _push(
    db: Store,
    settings: GA4Settings,
    site_id: int,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    send: Sender,
    policy: outbound.OutboundPolicy,
    uploads: UploadPolicy,
) -> GA4Result:
    conv = await get_settings(db, site_id=site_id, platform="ga4")
    # Settings stored by an older version passed older rules: every send is checked anew.
    endpoint_ok = ga4_endpoint_allowed(settings.endpoint_url, policy)
    url = (
        settings.endpoint_url
        + "?"
        + urllib.parse.urlencode(
            {"measurement_id": settings.measurement_id, "api_secret": settings.api_secret}
        )
    )
    rows = await db.fetchall(
        "SELECT c.id, c.started_ms, c.talk_s, c.qualified, c.match_method,"
        " c.match_confidence, s.ga_client_id,"
        " s.ga_sessions, s.started_ms AS session_started_ms,"
        " c.touch_source AS source, c.touch_medium AS medium, c.touch_campaign AS campaign"
        " FROM calls c JOIN sessions s ON s.id = c.session_id"
        " WHERE c.site_id = :site AND c.started_ms >= :start AND c.started_ms < :end AND "
        + _GA4_SQL
        + " AND NOT EXISTS (SELECT 1 FROM conversion_ledger l WHERE l.platform = 'ga4'"
        " AND l.call_id = c.id) ORDER BY c.id",
        {"site": site_id, "start": start_ms, "end": end_ms},
    )
    sent = failed = skipped = 0
    batch = new_batch(now_ms)
    for row in rows:
        client = ga_client_id(row["ga_client_id"])
        too_old = now_ms - row["started_ms"] > GA4_MAX_AGE_MS
        refused = uploads.refusal(row["match_method"], row["match_confidence"])
        if not client or too_old or refused or (conv.qualified_only and not row["qualified"]):
            skipped += 1
            continue
        claimed = await _claim(db, row["id"], client, batch, now_ms)
        if not claimed:
            continue
        body = orjson.dumps(ga4_payload(settings, conv, row, client))
        status = await send(url, body) if endpoint_ok else 0
        if 200 <= status < 300:
            sent += 1
        else:
            failed += 1
            await db.execute(
                "DELETE FROM conversion_ledger WHERE platform = 'ga4' AND call_id = :c",
                {"c": row["id"]},
            )
    return GA4Result(sent, failed, skipped)


def ga4_session_id(row: Any, measurement_id: str) -> str:
    """The GA session the event belongs to.

    The one gtag started for the site's property when the visit passed it (the
    ``_ga_<container>`` cookie); else the callpath session's start in Unix seconds, which is
    how gtag forms its own session ids, so every call of one callpath session carries the
    same id.
    """
    found = ga_session_for(row["ga_sessions"] or "", measurement_id)
    return found or str(int(row["session_started_ms"]) // 1000)


def _bounded(value: Any) -> Any:
    # GA4 truncates (and reports) parameter values over 100 characters: cut them here.
    return value[:GA4_MAX_PARAM_VALUE] if isinstance(value, str) else value


def ga4_payload(
    settings: GA4Settings, conv: ConversionSettings, row: Any, client: str
) -> dict[str, Any]:
    """The Measurement Protocol body of one call's event."""
    params = {
        "value": float(Decimal(conv.value)),
        "currency": conv.currency,
        "session_id": ga4_session_id(row, settings.measurement_id),
        "call_duration": row["talk_s"],
        "qualified": int(row["qualified"]),
        "match_method": row["match_method"],
        "call_source": row["source"],
        "call_medium": row["medium"],
        "call_campaign": row["campaign"],
        "engagement_time_msec": 1,
    }
    body: dict[str, Any] = {
        "client_id": client,
        "timestamp_micros": row["started_ms"] * 1000,
        "events": [
            {
                "name": settings.event_name,
                "params": {k: _bounded(v) for k, v in params.items()},
            }
        ],
    }
    consent = {
        k: v
        for k, v in (
            ("ad_user_data", settings.consent_ad_user_data),
            ("ad_personalization", settings.consent_ad_personalization),
        )
        if v
    }
    if consent:
        body["consent"] = consent
    return body


async def _claim(db: Store, call_id: int, client: str, batch: str, now_ms: int) -> bool:
    async with db.write() as tx:
        won = await tx.fetchval(
            "INSERT INTO conversion_ledger (platform, call_id, click_id, batch, exported_ms)"
            " VALUES ('ga4', :c, :k, :b, :t) ON CONFLICT (platform, call_id) DO NOTHING"
            " RETURNING call_id",
            {"c": call_id, "k": client, "b": batch, "t": now_ms},
        )
    return won is not None
