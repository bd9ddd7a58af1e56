"""Export routes: call paths (streamed), ad-platform conversion files, their settings, GA4."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import conversions as conv
from attribution.csv_encoding import CSV_ENCODINGS, EXCEL_SJIS_LIMIT
from attribution.exports import FORMATS, FORMS, ExportFilter, stream_paths
from attribution.matching import CONFIDENCES
from attribution.upload_policy import UploadPolicy
from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.endpoints import Endpoints
from backend.api.params import (
    P_MIN_CONFIDENCE,
    P_QUALIFIED,
    P_TZ,
    RANGE_PARAMS,
    bool_param,
    choice_param,
    db_of,
    int_param,
    min_confidence,
    path_id,
    path_site_id,
    request_scope,
    site_in_scope,
    time_range,
    zone_param,
)
from backend.auth import ApiPrincipal
from backend.downloads import download, file_download
from backend.errors import ApiError
from backend.http import read_json_object
from pool.store import now_ms

api = Endpoints(tags=["exports"])


def path_filter(request: Request, principal: ApiPrincipal) -> ExportFilter:
    """The filter of a path export from query parameters, within the token's scope."""
    start, end = time_range(request)
    scope = request_scope(request, principal)
    return ExportFilter(
        start_ms=start,
        end_ms=end,
        site_id=scope.site_id,
        advertiser_id=scope.advertiser_id,
        qualified_only=bool_param(request, "qualified") is True,
        confidences=min_confidence(request),
    )


@api.get(
    "/api/exports/paths",
    "Every call with its session and page path (CSV or NDJSON, streamed)",
    params=[
        *RANGE_PARAMS,
        P_QUALIFIED,
        P_MIN_CONFIDENCE,
        oa.query_param("format", {"type": "string", "enum": list(FORMATS), "default": "csv"}),
        oa.query_param(
            "form",
            {"type": "string", "enum": list(FORMS), "default": "wide"},
            "`wide`: one row per call; `long`: one row per page view.",
        ),
        oa.query_param(
            "encoding",
            {"type": "string", "enum": list(CSV_ENCODINGS), "default": "utf-8"},
            "CSV only. `excel`: Shift_JIS (cp932) when every character of the file fits"
            f" (and the file is at most {EXCEL_SJIS_LIMIT // 2**20} MiB), else UTF-8 with a"
            " byte-order mark: Excel on Japanese Windows reads either. `sjis`: always"
            " Shift_JIS, a character it lacks written as `?`. See docs/exports.md.",
        ),
    ],
    responses={200: oa.file_response("The export", ["text/csv", "application/x-ndjson"])},
)
async def export_paths(request: Request, principal: ApiPrincipal) -> Response:
    """Stream the session-to-call paths; caller numbers masked unless the token may see them."""
    flt = path_filter(request, principal)
    fmt = choice_param(request, "format", FORMATS, "csv")
    form = choice_param(request, "form", FORMS, "wide")
    encoding = choice_param(request, "encoding", CSV_ENCODINGS, "utf-8")
    body: AsyncIterator[bytes] = stream_paths(
        db_of(request), flt, fmt=fmt, form=form, show_callers=principal.can_see_callers
    )
    return await download(body, stem=f"callpath-paths-{form}", fmt=fmt, encoding=encoding)


P_PLATFORM = oa.path_param(
    "platform", {"type": "string", "enum": list(conv.FILE_PLATFORMS)}, "The ad platform."
)


UPLOAD_PARAMS = [
    oa.query_param(
        "min_confidence",
        {"type": "string", "enum": list(CONFIDENCES)},
        "The lowest match confidence sent (default: the server's"
        " CALLPATH_UPLOAD_MIN_CONFIDENCE, `low`).",
    ),
    oa.query_param(
        "include_ambiguous",
        {"type": "boolean", "default": False},
        "true: also send ambiguous and overflow matches (one visit chosen among several).",
    ),
]


def upload_policy(request: Request) -> UploadPolicy:
    """The upload policy of a request: its parameters over the server's default."""
    levels = min_confidence(request)  # 422 for an unknown level
    return UploadPolicy(
        min_confidence=levels[-1] if levels else request.app.state.settings.upload_min_confidence,
        include_ambiguous=bool_param(request, "include_ambiguous") is True,
    )


@api.post(
    "/api/exports/conversions/{platform}",
    "Offline click-conversion file for Google Ads, Yahoo! JAPAN or Microsoft Ads",
    params=[
        P_PLATFORM,
        *RANGE_PARAMS,
        oa.query_param(
            "preview",
            {"type": "boolean", "default": False},
            "true: build the file without recording it in the ledger.",
        ),
        *UPLOAD_PARAMS,
    ],
    responses={200: oa.file_response("The upload file", ["text/csv"])},
)
async def export_conversions(request: Request, principal: ApiPrincipal) -> Response:
    """Calls with this platform's click id not exported before; recorded so none repeats."""
    platform = request.path_params["platform"]
    if platform not in conv.FILE_PLATFORMS:
        raise ApiError(404, "not_found", f"No platform {platform!r}.")
    start, end = time_range(request)
    site = int_param(request, "site_id")
    if site is not None:
        await site_in_scope(db_of(request), principal, site)
    file = await conv.export_conversions(
        db_of(request),
        platform=platform,
        start_ms=start,
        end_ms=end,
        now_ms=now_ms(),
        site_id=site,
        advertiser_id=request_scope(request, principal, site_param=None).advertiser_id,
        timezone=zone_param(request).key,
        record=bool_param(request, "preview") is not True,
        created_by=actor(principal),
        policy=upload_policy(request),
    )
    return conversion_file_response(file)


def conversion_file_response(file: conv.ConversionFile) -> Response:
    """A conversion (or adjustment) file as a download, with what it holds in headers."""
    headers = {"X-Callpath-Conversions": str(file.count), "X-Callpath-Batch": file.batch}
    if file.batch_id is not None:
        # GET /api/conversions/batches/{id}/file gives this file again, byte for byte.
        headers["X-Callpath-Batch-Id"] = str(file.batch_id)
    if file.skipped:
        # Calls left out of the file and why (reason=count, ...): see docs/exports.md.
        headers["X-Callpath-Skipped"] = ", ".join(f"{k}={n}" for k, n in file.skipped.items())
    return file_download(file, headers)


SETTINGS_FIELDS: dict[str, Any] = {
    "conversion_name": {"type": "string", "minLength": 1, "maxLength": 100},
    "value": {"type": "string", "pattern": f"^{conv.VALUE_PATTERN}$"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "qualified_only": {"type": "boolean"},
    "enabled": {"type": "boolean"},
}
SETTINGS = oa.component(
    "ConversionSettings",
    oa.record(SETTINGS_FIELDS),
)
P_ALL_PLATFORMS = oa.path_param(
    "platform", {"type": "string", "enum": list(conv.PLATFORMS)}, "The platform."
)
_SETTINGS_PARAMS = [P_ALL_PLATFORMS]


def _settings_out(s: conv.ConversionSettings) -> dict[str, Any]:
    return {
        "conversion_name": s.conversion_name,
        "value": s.value,
        "currency": s.currency,
        "qualified_only": s.qualified_only,
        "enabled": s.enabled,
    }


async def _site_platform(request: Request, principal: ApiPrincipal) -> tuple[int, str]:
    site_id = path_id(request, "site_id")
    platform = request.path_params["platform"]
    if platform not in conv.PLATFORMS:
        raise ApiError(404, "not_found", f"No platform {platform!r}.")
    await site_in_scope(db_of(request), principal, site_id)
    return site_id, platform


@api.get(
    "/api/sites/{site_id:int}/conversions/{platform}",
    "How the site's calls are named and valued on a platform",
    params=_SETTINGS_PARAMS,
    ok="The settings (defaults when never set)",
    returns=SETTINGS,
)
async def get_conversion_settings(request: Request, principal: ApiPrincipal) -> Response:
    """The conversion name, value, currency and filters of a site on a platform."""
    site_id, platform = await _site_platform(request, principal)
    s = await conv.get_settings(db_of(request), site_id=site_id, platform=platform)
    return JSONResponse(_settings_out(s))


@api.put(
    "/api/sites/{site_id:int}/conversions/{platform}",
    "Set how the site's calls are named and valued on a platform",
    params=_SETTINGS_PARAMS,
    body={**SETTINGS, "description": "Missing fields keep their current value."},
    ok="The stored settings",
    returns=SETTINGS,
)
async def put_conversion_settings(request: Request, principal: ApiPrincipal) -> Response:
    """Store the site's settings for a platform; fields left out keep their value."""
    site_id, platform = await _site_platform(request, principal)
    data = await read_json_object(request, 4096)
    current = _settings_out(
        await conv.get_settings(db_of(request), site_id=site_id, platform=platform)
    )
    for key, value in data.items():
        if key not in SETTINGS_FIELDS:
            raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)
        kind = bool if SETTINGS_FIELDS[key]["type"] == "boolean" else str
        if not isinstance(value, kind):
            raise ApiError(422, "invalid", f"Field {key!r} has the wrong type.", field=key)
        current[key] = value
    try:
        stored = await conv.put_settings(
            db_of(request),
            site_id=site_id,
            platform=platform,
            settings=conv.ConversionSettings(**current),
            now_ms=now_ms(),
        )
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    return JSONResponse(_settings_out(stored))


GA4_FIELDS: dict[str, Any] = {
    "measurement_id": {"type": "string", "pattern": "^G-[A-Z0-9]{4,20}$"},
    "api_secret": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,100}$"},
    "endpoint_url": {"type": "string", "maxLength": 500, "format": "uri"},
    "event_name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,39}$"},
    "enabled": {"type": "boolean"},
    "consent_ad_user_data": {
        "type": "string",
        "enum": list(conv.CONSENT_VALUES),
        "description": "Sent as consent.ad_user_data; empty: not sent.",
    },
    "consent_ad_personalization": {
        "type": "string",
        "enum": list(conv.CONSENT_VALUES),
        "description": "Sent as consent.ad_personalization; empty: not sent.",
    },
}
GA4 = oa.component(
    "GA4Settings",
    {
        "type": "object",
        "required": ["measurement_id", "api_secret"],
        "properties": GA4_FIELDS,
    },
)
GA4_OUT = oa.component(
    "GA4SettingsOut",
    {
        "type": "object",
        "required": list(GA4_FIELDS),
        "properties": {**GA4_FIELDS, "api_secret": {"type": "string"}},
    },
)


def _ga4_out(s: conv.GA4Settings) -> dict[str, Any]:
    # The secret is write-only: shown with all but its last 4 characters hidden.
    return {
        "measurement_id": s.measurement_id,
        "api_secret": "*" * (len(s.api_secret) - 4) + s.api_secret[-4:],
        "endpoint_url": s.endpoint_url,
        "event_name": s.event_name,
        "enabled": s.enabled,
        "consent_ad_user_data": s.consent_ad_user_data,
        "consent_ad_personalization": s.consent_ad_personalization,
    }


@api.get(
    "/api/sites/{site_id:int}/ga4",
    "The site's GA4 Measurement Protocol settings",
    ok="The settings (secret masked)",
    returns=GA4_OUT,
)
async def get_ga4(request: Request, principal: ApiPrincipal) -> Response:
    """Where the site's call events go in GA4 (404 when not set)."""
    site_id = await path_site_id(request, principal)
    s = await conv.get_ga4(db_of(request), site_id=site_id)
    if s is None:
        raise ApiError(404, "not_found", "This site has no GA4 settings.")
    return JSONResponse(_ga4_out(s))


@api.put(
    "/api/sites/{site_id:int}/ga4",
    "Set the site's GA4 Measurement Protocol settings",
    body=GA4,
    ok="The stored settings (secret masked)",
    returns=GA4_OUT,
)
async def put_ga4(request: Request, principal: ApiPrincipal) -> Response:
    """Store measurement id, API secret, endpoint and event name of the site."""
    site_id = await path_site_id(request, principal)
    data = await read_json_object(request, 4096)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in GA4_FIELDS:
            raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)
        kind = bool if key == "enabled" else str
        if not isinstance(value, kind):
            raise ApiError(422, "invalid", f"Field {key!r} has the wrong type.", field=key)
        values[key] = value
    if "measurement_id" not in values or "api_secret" not in values:
        raise ApiError(422, "invalid", "measurement_id and api_secret are required.")
    try:
        stored = await conv.put_ga4(
            db_of(request),
            site_id=site_id,
            settings=conv.GA4Settings(**values),
            now_ms=now_ms(),
            policy=request.app.state.outbound,
        )
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    return JSONResponse(_ga4_out(stored))


GA4_RESULT = oa.component(
    "GA4PushResult",
    {
        "type": "object",
        "required": ["sent", "failed", "skipped"],
        "properties": {k: {"type": "integer"} for k in ("sent", "failed", "skipped")},
    },
)


@api.post(
    "/api/sites/{site_id:int}/ga4/push",
    "Send the site's not-yet-sent calls to GA4 as events",
    params=[*RANGE_PARAMS[:3], *UPLOAD_PARAMS],
    ok="What was sent",
    returns=GA4_RESULT,
)
async def push_ga4(request: Request, principal: ApiPrincipal) -> Response:
    """One event per call with a GA client id, each sent once (failed ones are retried)."""
    site_id = await path_site_id(request, principal)
    start, end = time_range(request)
    result = await conv.push_ga4(
        db_of(request),
        site_id=site_id,
        start_ms=start,
        end_ms=end,
        now_ms=now_ms(),
        policy=request.app.state.outbound,
        uploads=upload_policy(request),
    )
    return JSONResponse({"sent": result.sent, "failed": result.failed, "skipped": result.skipped})


_ = P_TZ  # the tz parameter is part of RANGE_PARAMS

routes = api.routes
